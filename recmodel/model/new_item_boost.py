"""New-item boost: an item with no training events gets sigma(u) * (beta + content match) added to its score.

A content model learns each trained item's popularity from its content, so an item nobody has interacted with
yet starts below every popular item however well its content matches the user. The boost lifts (or, with a
negative ``beta``, lowers) untrained items by ``beta`` standard deviations of the user's scores over the trained
items, sigma(u) = sqrt(uᵀ C u) with C the covariance of the trained items' vectors; with a content channel
(:mod:`recmodel.model.content_channel`) it adds sigma(u) * weight * (p . q) / scale, so that among new items the ones
whose content matches the user's latest items rise. Everything is a dot product: users get the columns
``[beta*sigma(u) | 0 | sigma(u)*weight/scale*p]``, items ``[new | q | new*q]`` (one column without a content
channel), so any inner-product index serves it unchanged. A content channel whose match is the closest recent item
(``aggregate`` max) is not a dot product: its user block is zero and :meth:`NewItemBoost.exact_terms` gives the
new items' content term, which a scorer adds to the dot product (offline) or a service merges in exactly. Its
parameters are chosen on validation (``recmodel.training.boost_selection``) and stored in the artifact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from recmodel.model.content_channel import ContentChannel, ContentCodes

BOOST_FILE = "new_item_boost.npz"
_CODES = "codes_"


@dataclass(frozen=True)
class NewItemBoost:
    beta: float
    covariance: np.ndarray  # (D, D) float64, of the trained items' vectors
    trained_ids: frozenset[str]
    content: ContentChannel | None = None

    @classmethod
    def fit(cls, item_vectors: np.ndarray, item_ids: list[str], trained: np.ndarray, beta: float) -> NewItemBoost:
        """Boost for a catalogue whose rows ``trained`` (bool) had training events; needs >= 2 trained items."""
        if not np.isfinite(beta):
            raise ValueError(f"beta: must be finite, got {beta}")
        if len(item_ids) != len(item_vectors) or len(trained) != len(item_vectors):
            raise ValueError("item_ids/trained: one entry per item vector expected")
        if int(trained.sum()) < 2:
            raise ValueError("trained: at least 2 trained items are needed to estimate the score spread")
        cov = np.cov(np.asarray(item_vectors, dtype=np.float64)[trained].T)
        ids = frozenset(i for i, t in zip(item_ids, trained, strict=True) if t)
        return cls(beta=float(beta), covariance=np.atleast_2d(cov), trained_ids=ids)

    def with_beta(self, beta: float) -> NewItemBoost:
        """The same boost with another ``beta``."""
        return replace(self, beta=float(beta))

    def with_content(self, content: ContentChannel | None) -> NewItemBoost:
        """The same boost with another content channel (None: uniform lift only)."""
        return replace(self, content=content)

    @property
    def active(self) -> bool:
        """False when the boost changes no score (beta 0 and no content weight)."""
        return self.beta != 0 or (self.content is not None and self.content.weight != 0)

    @property
    def width(self) -> int:
        """Columns appended to user and item vectors."""
        return 1 + (2 * self.content.codes.dim if self.content is not None else 0)

    def spread(self, users: np.ndarray) -> np.ndarray:
        """(B,) sigma(u): the standard deviation of each user's scores over the trained items."""
        u = np.asarray(users, dtype=np.float64)
        # uᵀCu row by row through one BLAS matmul (a three-operand einsum took 40x as long on a batch of 15)
        return np.sqrt(np.maximum(((u @ self.covariance) * u).sum(axis=1), 0.0))

    def user_column(self, users: np.ndarray) -> np.ndarray:
        """(B,) float32 uniform part of the user columns: beta * sigma(u)."""
        return (self.beta * self.spread(users)).astype(np.float32)

    def item_column(self, item_ids: Iterable[str]) -> np.ndarray:
        """(n,) float32 uniform part of the item columns: 1 for an item without training events, else 0."""
        return np.array([0.0 if i in self.trained_ids else 1.0 for i in item_ids], dtype=np.float32)

    def codes(self, text: np.ndarray, image: np.ndarray, has_text: np.ndarray, has_image: np.ndarray) -> np.ndarray:
        """(n, r) content codes of items (needs a content channel)."""
        if self.content is None:
            raise ValueError("codes: this boost has no content channel")
        return self.content.codes.encode(text, image, has_text, has_image)

    def item_columns(self, item_ids: list[str], codes: np.ndarray | None = None) -> np.ndarray:
        """(n, width) float32 item columns; ``codes`` (n, r) required with a content channel."""
        new = self.item_column(item_ids)[:, None]
        if self.content is None:
            return new
        if codes is None or codes.shape != (len(item_ids), self.content.codes.dim):
            raise ValueError(f"codes: expected shape {(len(item_ids), self.content.codes.dim)}")
        return np.concatenate([new, codes, new * codes], axis=1).astype(np.float32)

    @property
    def exact(self) -> bool:
        """True when part of the boost is not a dot product (a max-match content channel)."""
        return self.content is not None and not self.content.linear and self.content.weight != 0

    def exact_terms(
        self, users: np.ndarray, history_codes: np.ndarray, lengths: np.ndarray, item_codes: np.ndarray
    ) -> np.ndarray:
        """(B, n) float32 content term sigma(u) * weight * match / scale of the n items whose codes are given (the
        new ones: the caller adds it to untrained items only) for B users with right-padded (B, L, r) history codes.
        Only for a max-match channel (:attr:`exact`); the mean match is in the columns."""
        if self.content is None or self.content.linear:
            raise ValueError("exact_terms: only a max-match content channel has an exact term")
        sigma = self.spread(users)
        match = self.content.match(history_codes, lengths, item_codes)
        return ((sigma * self.content.weight / self.content.scale)[:, None] * match).astype(np.float32)

    def code_columns(self, dim: int) -> slice:
        """The columns of served vectors ``dim`` wide (the model's and this boost's) that hold the content code."""
        if self.content is None:
            raise ValueError("code_columns: this boost has no content channel")
        start = dim - self.width + 1
        return slice(start, start + self.content.codes.dim)

    def served_terms(
        self, users: np.ndarray, history_vectors: np.ndarray, lengths: np.ndarray, item_codes: np.ndarray
    ) -> np.ndarray:
        """:meth:`exact_terms` from served vectors: B user vectors (B, D + width), their right-padded history
        item vectors (B, L, D + width), whose middle block is the code, and n new items' codes (n, r): that block
        of their vectors (``vectors[:, code_columns(D + width)]``)."""
        model_dim = np.asarray(users).shape[1] - self.width
        return self.exact_terms(
            np.asarray(users, dtype=np.float32)[:, :model_dim],
            np.asarray(history_vectors, dtype=np.float32)[..., self.code_columns(model_dim + self.width)],
            lengths,
            np.asarray(item_codes, dtype=np.float32),
        )

    def user_columns(self, users: np.ndarray, profiles: np.ndarray | None = None) -> np.ndarray:
        """(B, width) float32 user columns; ``profiles`` (B, r) required with a mean-match content channel."""
        sigma = self.spread(users)
        lift = (self.beta * sigma)[:, None]
        if self.content is None:
            return lift.astype(np.float32)
        if not self.content.linear:
            zeros = np.zeros((len(users), 2 * self.content.codes.dim), dtype=np.float32)
            return np.concatenate([lift.astype(np.float32), zeros], axis=1)
        if profiles is None or profiles.shape != (len(users), self.content.codes.dim):
            raise ValueError(f"profiles: expected shape {(len(users), self.content.codes.dim)}")
        match = (sigma * self.content.weight / self.content.scale)[:, None] * profiles
        return np.concatenate([lift, np.zeros_like(profiles), match], axis=1).astype(np.float32)

    def save(self, folder: Path) -> None:
        """Write ``new_item_boost.npz`` into an artifact folder (temp file, then rename)."""
        tmp = folder / f"{BOOST_FILE}.tmp.npz"
        extra: dict[str, np.ndarray] = {}
        if self.content is not None:
            c = self.content
            extra = c.codes.arrays(_CODES) | {
                "content_weight": np.array(c.weight),
                "profile_len": np.array(c.profile_len),
                "content_scale": np.array(c.scale),
                "content_aggregate": np.array(c.aggregate),
            }
        np.savez(
            tmp,
            beta=np.array(self.beta),
            covariance=self.covariance,
            trained_ids=np.array(json.dumps(sorted(self.trained_ids))),
            **extra,
        )
        tmp.replace(folder / BOOST_FILE)

    @classmethod
    def load(cls, folder: Path) -> NewItemBoost | None:
        """The artifact's boost, or None when it has none (or it changes no score)."""
        path = Path(folder) / BOOST_FILE
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            content = None
            if "content_weight" in z.files:
                content = ContentChannel(
                    ContentCodes.from_arrays(dict(z), _CODES),
                    float(z["content_weight"]),
                    int(z["profile_len"]),
                    float(z["content_scale"]),
                    "max" if "content_aggregate" in z.files and str(z["content_aggregate"]) == "max" else "mean",
                )
            boost = cls(
                beta=float(z["beta"]),
                covariance=z["covariance"].astype(np.float64),
                trained_ids=frozenset(json.loads(str(z["trained_ids"]))),
                content=content,
            )
        return boost if boost.active else None
