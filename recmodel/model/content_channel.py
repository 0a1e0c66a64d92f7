"""The new-item content channel: where a new item lands is decided by how closely its content matches the user's
latest items, measured in raw encoder space (no trained weights, so nothing memorised).

Each item gets a fixed code q (``ContentCodes``): its text and image encoder outputs, each centred on the trained
items' mean and scaled to unit length (an absent modality is zero), concatenated, projected on the first ``r``
principal axes of the trained items and scaled to unit length. How closely an item matches the user's last
``profile_len`` history items h_1..h_L is, by ``aggregate``:

- ``mean``: p . q with p the mean of the h_j (a linear profile: one near-duplicate of one history item gets only
  about 1/L of the match it would get alone);
- ``max``: max_j (h_j . q), the match with the closest recent item (a near-duplicate of any of them matches fully).

For an item without training events the score gains sigma(u) * weight * match / scale (``scale`` makes weight
unit-free: the spread of p . q over trained items). The mean match is a dot product, served as columns:

    item row:  [new | q | new * q]        user row: [. | 0 | sigma(u) * weight / scale * p]

the middle block carries every item's code so that a service can build p from the history items' rows alone. The
max match is not a dot product: its user block is zero and a service scores the new items' term exactly
(:meth:`ContentChannel.match`) and merges them, as offline scoring does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from recmodel.model.content_space import content_vectors, reference_mean


@dataclass(frozen=True)
class ContentCodes:
    """A fixed map from raw encoder outputs to ``r``-dimensional unit codes."""

    text_mean: np.ndarray  # (text_dim,)
    image_mean: np.ndarray  # (image_dim,)
    centre: np.ndarray  # (text_dim + image_dim,) mean raw content vector of the trained items
    axes: np.ndarray  # (r, text_dim + image_dim) principal axes

    @property
    def dim(self) -> int:
        return int(self.axes.shape[0])

    @classmethod
    def fit(
        cls,
        text: np.ndarray,
        image: np.ndarray,
        has_text: np.ndarray,
        has_image: np.ndarray,
        trained: np.ndarray,
        dim: int,
    ) -> ContentCodes:
        """Means and principal axes fitted on the ``trained`` rows."""
        if dim < 1:
            raise ValueError(f"dim: must be >= 1, got {dim}")
        if int(trained.sum()) < 2:
            raise ValueError("trained: at least 2 trained items are needed to fit content codes")
        text_mean, image_mean = reference_mean(text, has_text, trained), reference_mean(image, has_image, trained)
        raw = content_vectors([(text, has_text, text_mean), (image, has_image, image_mean)])
        centre = raw[trained].mean(0)
        _, _, axes = np.linalg.svd(raw[trained] - centre, full_matrices=False)
        return cls(text_mean, image_mean, centre.astype(np.float32), axes[:dim].astype(np.float32))

    def project(self, text: np.ndarray, image: np.ndarray, has_text: np.ndarray, has_image: np.ndarray) -> np.ndarray:
        """(n, r) float32 coordinates of items on the principal axes (not normalised)."""
        raw = content_vectors([(text, has_text, self.text_mean), (image, has_image, self.image_mean)])
        return ((raw - self.centre) @ self.axes.T).astype(np.float32)

    def encode(self, text: np.ndarray, image: np.ndarray, has_text: np.ndarray, has_image: np.ndarray) -> np.ndarray:
        """(n, r) float32 unit codes (zero for an item with neither modality)."""
        codes = self.project(text, image, has_text, has_image)
        norms = np.linalg.norm(codes, axis=1, keepdims=True)
        present = (np.asarray(has_text, bool) | np.asarray(has_image, bool))[:, None]
        return np.where(present, codes / np.maximum(norms, 1e-9), 0.0).astype(np.float32)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Arrays to store (names prefixed)."""
        return {f"{prefix}{k}": getattr(self, k) for k in ("text_mean", "image_mean", "centre", "axes")}

    @classmethod
    def from_arrays(cls, z: dict[str, np.ndarray], prefix: str) -> ContentCodes:
        return cls(
            *(np.asarray(z[f"{prefix}{k}"], dtype=np.float32) for k in ("text_mean", "image_mean", "centre", "axes"))
        )


@dataclass(frozen=True)
class ContentChannel:
    """How strongly, and from how many recent items, content similarity places a new item."""

    codes: ContentCodes
    weight: float
    profile_len: int
    scale: float
    aggregate: Literal["mean", "max"] = "mean"

    def __post_init__(self) -> None:
        if self.profile_len < 1 or not np.isfinite(self.weight) or self.scale <= 0:
            raise ValueError(
                f"content channel: need profile_len >= 1, a finite weight and scale > 0, got "
                f"{self.profile_len}, {self.weight}, {self.scale}"
            )
        if self.aggregate not in ("mean", "max"):
            raise ValueError(f"aggregate: 'mean' or 'max' expected, got {self.aggregate!r}")

    @property
    def linear(self) -> bool:
        """True when the match is a dot product of a user profile and the item code (``aggregate`` mean)."""
        return self.aggregate == "mean"

    def _recent(self, history_codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 (B, L, r) codes and the (B, L) bool mask of each row's last ``profile_len`` valid positions."""
        history_codes = np.asarray(history_codes, dtype=np.float32)
        lengths = np.asarray(lengths, dtype=np.int64)
        positions = np.arange(history_codes.shape[1])[None, :]
        use = (positions < lengths[:, None]) & (positions >= (lengths - self.profile_len)[:, None])
        return history_codes, use

    def profiles(self, history_codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(B, r) mean code of each row's last ``profile_len`` valid positions of right-padded (B, L, r) codes."""
        history_codes, use = self._recent(history_codes, lengths)
        counts = np.maximum(use.sum(1, keepdims=True), 1)
        return (np.einsum("bl,blr->br", use.astype(np.float32), history_codes) / counts).astype(np.float32)

    def match(self, history_codes: np.ndarray, lengths: np.ndarray, item_codes: np.ndarray) -> np.ndarray:
        """(B, n) float32 match of each row's recent history codes (B, L, r) with items' codes (n, r), before
        ``weight``, ``scale`` and sigma(u): p . q (mean) or max_j h_j . q (max; 0 for an empty history)."""
        item_codes = np.asarray(item_codes, dtype=np.float32)
        if self.linear:
            return (self.profiles(history_codes, lengths) @ item_codes.T).astype(np.float32)
        history_codes, use = self._recent(history_codes, lengths)
        width = min(self.profile_len, history_codes.shape[1])
        # the last ``width`` valid positions, gathered per row: (B, width, r)
        starts = np.maximum(np.asarray(lengths, dtype=np.int64) - width, 0)
        idx = starts[:, None] + np.arange(width)[None, :]
        idx = np.minimum(idx, history_codes.shape[1] - 1)
        recent = np.take_along_axis(history_codes, idx[:, :, None], axis=1)
        valid = np.take_along_axis(use, idx, axis=1)  # (B, width)
        # torch's matmul: 1.5-2.6x numpy's (single-threaded OpenBLAS) for these shapes (3-45 x 64 by 64 x 10k)
        products = (
            torch.from_numpy(np.ascontiguousarray(recent.reshape(-1, recent.shape[2]))) @ torch.from_numpy(item_codes).T
        )
        sims = products.view(len(recent), width, -1)
        if valid.all():  # every row has at least ``width`` events: no position to leave out
            return sims.amax(dim=1).numpy()
        sims = np.where(valid[:, :, None], sims.numpy(), -np.inf).max(axis=1)
        return np.where(np.isfinite(sims), sims, 0.0).astype(np.float32)
