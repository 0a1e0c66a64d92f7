"""The new-item content channel: where a new item lands is decided by how closely its content matches the user's
latest items, measured in raw encoder space (no trained weights, so nothing memorised).

Each item gets a fixed code q (``ContentCodes``): its text and image encoder outputs, each centred on the trained
items' mean and scaled to unit length (an absent modality is zero), concatenated, projected on the first ``r``
principal axes of the trained items and scaled to unit length. A user's profile p is the mean code of the last
``profile_len`` history items. For an item without training events the score gains sigma(u) * weight * (p . q) /
scale (``scale`` makes weight unit-free: the spread of p . q over trained items). As columns of a dot product:

    item row:  [new | q | new * q]        user row: [. | 0 | sigma(u) * weight / scale * p]

the middle block carries every item's code so that a service can build p from the history items' rows alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    def __post_init__(self) -> None:
        if self.profile_len < 1 or not np.isfinite(self.weight) or self.scale <= 0:
            raise ValueError(
                f"content channel: need profile_len >= 1, a finite weight and scale > 0, got "
                f"{self.profile_len}, {self.weight}, {self.scale}"
            )

    def profiles(self, history_codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(B, r) mean code of each row's last ``profile_len`` valid positions of right-padded (B, L, r) codes."""
        history_codes = np.asarray(history_codes, dtype=np.float32)
        lengths = np.asarray(lengths, dtype=np.int64)
        positions = np.arange(history_codes.shape[1])[None, :]
        use = (positions < lengths[:, None]) & (positions >= (lengths - self.profile_len)[:, None])
        counts = np.maximum(use.sum(1, keepdims=True), 1)
        return (np.einsum("bl,blr->br", use.astype(np.float32), history_codes) / counts).astype(np.float32)
