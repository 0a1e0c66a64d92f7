"""Raw content vectors for similarity in encoder space: per modality centred, unit length, zero when absent."""

from __future__ import annotations

import numpy as np


def reference_mean(features: np.ndarray, present: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(dim,) float32 mean of the rows that are ``present`` and in ``reference`` (zeros when there are none)."""
    rows = features[np.asarray(present, dtype=bool) & np.asarray(reference, dtype=bool)]
    return rows.mean(0).astype(np.float32) if len(rows) else np.zeros(features.shape[1], np.float32)


def content_vectors(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> np.ndarray:
    """(n, sum of dims) float32 raw content vectors from (features (n, dim), present (n,), mean (dim,)) per
    modality: each modality centred on ``mean``, unit length, zero when absent, scaled by 1/sqrt(modalities)."""
    halves = []
    for features, present, mean in parts:
        centred = np.asarray(features, dtype=np.float32) - np.asarray(mean, dtype=np.float32)
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        halves.append(np.where(np.asarray(present, dtype=bool)[:, None], centred / np.maximum(norms, 1e-9), 0.0))
    return (np.hstack(halves) / np.sqrt(len(halves))).astype(np.float32)
