"""New-item boost: an item with no training events gets ``beta`` times the user's score spread added to its score.

A content model learns each trained item's popularity from its content, so an item nobody has interacted with
yet starts below every popular item however well its content matches the user. The boost lifts untrained items
by ``beta`` standard deviations of the user's scores over the trained items: sigma(u) = sqrt(uᵀ C u), with C the
covariance of the trained items' vectors. As a dot product it is one extra column (users: beta·sigma(u); items:
1 when untrained, else 0), so any inner-product index serves it unchanged. ``beta`` is chosen on validation
(``ranker.training.boost_selection``) and stored in the artifact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BOOST_FILE = "new_item_boost.npz"


@dataclass(frozen=True)
class NewItemBoost:
    beta: float
    covariance: np.ndarray  # (D, D) float64, of the trained items' vectors
    trained_ids: frozenset[str]

    @classmethod
    def fit(cls, item_vectors: np.ndarray, item_ids: list[str], trained: np.ndarray, beta: float) -> NewItemBoost:
        """Boost for a catalogue whose rows ``trained`` (bool) had training events; needs >= 2 trained items."""
        if beta < 0:
            raise ValueError(f"beta: must be >= 0, got {beta}")
        if len(item_ids) != len(item_vectors) or len(trained) != len(item_vectors):
            raise ValueError("item_ids/trained: one entry per item vector expected")
        if int(trained.sum()) < 2:
            raise ValueError("trained: at least 2 trained items are needed to estimate the score spread")
        cov = np.cov(np.asarray(item_vectors, dtype=np.float64)[trained].T)
        ids = frozenset(i for i, t in zip(item_ids, trained, strict=True) if t)
        return cls(beta=float(beta), covariance=np.atleast_2d(cov), trained_ids=ids)

    def with_beta(self, beta: float) -> NewItemBoost:
        """The same boost with another ``beta``."""
        return NewItemBoost(beta=float(beta), covariance=self.covariance, trained_ids=self.trained_ids)

    def spread(self, users: np.ndarray) -> np.ndarray:
        """(B,) sigma(u): the standard deviation of each user's scores over the trained items."""
        u = np.asarray(users, dtype=np.float64)
        return np.sqrt(np.maximum(np.einsum("bi,ij,bj->b", u, self.covariance, u), 0.0))

    def user_column(self, users: np.ndarray) -> np.ndarray:
        """(B,) float32 extra user component: beta * sigma(u)."""
        return (self.beta * self.spread(users)).astype(np.float32)

    def item_column(self, item_ids: Iterable[str]) -> np.ndarray:
        """(n,) float32 extra item component: 1 for an item without training events, else 0."""
        return np.array([0.0 if i in self.trained_ids else 1.0 for i in item_ids], dtype=np.float32)

    def save(self, folder: Path) -> None:
        """Write ``new_item_boost.npz`` into an artifact folder (temp file, then rename)."""
        tmp = folder / f"{BOOST_FILE}.tmp.npz"
        np.savez(
            tmp,
            beta=np.array(self.beta),
            covariance=self.covariance,
            trained_ids=np.array(json.dumps(sorted(self.trained_ids))),
        )
        tmp.replace(folder / BOOST_FILE)

    @classmethod
    def load(cls, folder: Path) -> NewItemBoost | None:
        """The artifact's boost, or None when it has none (or ``beta`` is 0)."""
        path = Path(folder) / BOOST_FILE
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            boost = cls(
                beta=float(z["beta"]),
                covariance=z["covariance"].astype(np.float64),
                trained_ids=frozenset(json.loads(str(z["trained_ids"]))),
            )
        return boost if boost.beta > 0 else None
