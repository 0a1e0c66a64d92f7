"""The benchmarks' large catalogues: the artifact's real items plus synthetic variations of them, and real users.

Shared by bench/ranker_bench.py (ANN and prefilter recall) and bench/ann_compare.py, so both measure the same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from bench.ranker_server import synthetic_vectors
from ranker.service import model as served
from ranker.service.history import assemble, usable_history
from recmodel.model.serving import ServingModel
from user_state.events import Event

T0 = 1_700_000_000_000
HISTORY_EVENTS = 50


@dataclass
class BenchCatalogue:
    """``ids`` and their (n, dim) item ``vectors`` (real items first), and (users, dim) float32 user vectors."""

    ids: list[str]
    vectors: np.ndarray
    users: np.ndarray


def bench_catalogue(model: ServingModel, n: int, users: int, seed: int = 0) -> BenchCatalogue:
    """``n`` items (the artifact's, then synthetic variations of them) and ``users`` user vectors, each from a
    history of HISTORY_EVENTS random real items."""
    features = model.catalogue()
    ids = list(features.item_ids)
    real = model.item_vectors(features.text, features.image, features.has_text, features.has_image, item_ids=ids)
    extra = max(0, n - len(ids))
    vectors = np.concatenate([real, synthetic_vectors(real, extra)])
    row_of = {item: j for j, item in enumerate(ids)}
    pick = random.Random(seed)
    histories = [
        usable_history(
            [Event(f"e{u}-{j}", f"u{u}", pick.choice(ids), T0 + j * 60_000) for j in range(HISTORY_EVENTS)],
            row_of,
            HISTORY_EVENTS,
        )
        for u in range(users)
    ]
    history = assemble(histories, [T0 + 10**8] * users, [""] * users, vectors)
    user_vectors = np.ascontiguousarray(served.user_vectors(model, history)[0], dtype=np.float32)
    return BenchCatalogue(ids + [f"synthetic-{j}" for j in range(extra)], vectors, user_vectors)
