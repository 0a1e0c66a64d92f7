"""Baselines scored on the same cases as the models: random, popularity and content-kNN over raw encoder vectors.

Content-kNN needs no training: a candidate's score is the cosine between its raw encoder vector and the mean
of the (normalised) vectors of the user's last ``k`` history items. Vectors are centred on the training items'
mean and L2-normalised per modality; an absent modality is a zero vector; ``both`` concatenates the two
normalised modalities (divided by sqrt 2, so a fully described item still has unit length).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ranker.data.splits import EvalCases, Split
from ranker.model.catalogue import Catalogue

ContentModality = Literal["text", "image", "both"]
KNN_K_GRID = (1, 3, 5, 10, 20, 50)


def _normalised(features: np.ndarray, present: np.ndarray, reference: np.ndarray) -> np.ndarray:
    rows = features[reference & present]
    centred = features - (rows.mean(0) if len(rows) else 0.0)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.where(present[:, None], centred / np.maximum(norms, 1e-9), 0.0).astype(np.float32)


def content_vectors(catalogue: Catalogue, modality: ContentModality, reference: np.ndarray) -> np.ndarray:
    """(N, D) unit-length raw content vectors (centred on the ``reference`` items, e.g. the training items)."""
    text = _normalised(catalogue.text, catalogue.has_text, reference)
    image = _normalised(catalogue.image, catalogue.has_image, reference)
    if modality == "text":
        return text
    if modality == "image":
        return image
    if modality == "both":
        return np.hstack([text, image]) / np.float32(np.sqrt(2.0))
    raise ValueError(f"modality: expected 'text', 'image' or 'both', got {modality!r}")


@dataclass(frozen=True)
class ContentKnn:
    """Cosine between each candidate and the mean of the user's last ``k`` items, in raw encoder space."""

    vectors: np.ndarray  # (N, D) from content_vectors
    k: int

    def profiles(self, cases: EvalCases) -> np.ndarray:
        """(C, D) mean content vector of each case's last ``k`` history items."""
        return np.stack([self.vectors[h.items[-self.k :]].mean(0) for h in cases.histories]).astype(np.float32)

    def scores(self, cases: EvalCases) -> np.ndarray:
        """(C, N) scores of every catalogue item."""
        if len(cases) == 0:
            return np.zeros((0, len(self.vectors)), dtype=np.float32)
        return self.profiles(cases) @ self.vectors.T


def popularity_scores(split: Split, cases: EvalCases) -> np.ndarray:
    """(C, N) training interaction counts of each item (every user gets the same list; cold items score 0)."""
    counts = np.zeros(split.num_items, dtype=np.float32)
    for seq in split.train:
        np.add.at(counts, seq.items, 1.0)
    return np.broadcast_to(counts, (len(cases), split.num_items)).copy()


def random_scores(num_items: int, cases: EvalCases, seed: int = 0) -> np.ndarray:
    """(C, N) independent uniform scores (seeded)."""
    return np.random.default_rng(seed).random((len(cases), num_items), dtype=np.float32)
