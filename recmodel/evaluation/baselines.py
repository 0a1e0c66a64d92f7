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

from recmodel.data.splits import EvalCases, Split
from recmodel.model.catalogue import Catalogue
from recmodel.model.content_space import content_vectors as shared_content_vectors
from recmodel.model.content_space import reference_mean

ContentModality = Literal["text", "image", "both"]
KNN_K_GRID = (1, 3, 5, 10, 20, 50)


def content_vectors(catalogue: Catalogue, modality: ContentModality, reference: np.ndarray) -> np.ndarray:
    """(N, D) unit-length raw content vectors (centred on the ``reference`` items, e.g. the training items)."""
    parts = {
        name: (features, present, reference_mean(features, present, reference))
        for name, features, present in (
            ("text", catalogue.text, catalogue.has_text),
            ("image", catalogue.image, catalogue.has_image),
        )
    }
    if modality not in ("text", "image", "both"):
        raise ValueError(f"modality: expected 'text', 'image' or 'both', got {modality!r}")
    return shared_content_vectors([parts["text"], parts["image"]] if modality == "both" else [parts[modality]])


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
    counts = split.train_counts().astype(np.float32)
    return np.broadcast_to(counts, (len(cases), split.num_items)).copy()


def random_scores(num_items: int, cases: EvalCases, seed: int = 0) -> np.ndarray:
    """(C, N) independent uniform scores (seeded)."""
    return np.random.default_rng(seed).random((len(cases), num_items), dtype=np.float32)
