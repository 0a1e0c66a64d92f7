"""The benchmarks' large catalogues: the artifact's real items plus synthetic variations of them, and real users.

Shared by bench/ranker_bench.py (ANN and prefilter recall) and bench/ann_compare.py, so both measure the same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from bench.ranker_server import synthetic_vectors
from ranker.service.history import assemble, usable_history
from ranker.service.model_adapter import ModelAdapter
from user_state.events import Event

T0 = 1_700_000_000_000
HISTORY_EVENTS = 50


@dataclass
class BenchCatalogue:
    """``ids`` and their (n, dim) item ``vectors`` (real items first), and (users, dim) float32 user vectors."""

    ids: list[str]
    vectors: np.ndarray
    users: np.ndarray


def bench_catalogue(model: ModelAdapter, n: int, users: int, seed: int = 0) -> BenchCatalogue:
    """``n`` items (the artifact's, then synthetic variations of them) and ``users`` user vectors, each from a
    history of HISTORY_EVENTS random real items."""
    features = model.catalogue()
    ids, rows = features.live_rows()
    real = model.item_vectors(features.text[rows], features.image[rows], features.has_text[rows],
                              features.has_image[rows], ids)  # fmt: skip
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
    user_vectors = np.ascontiguousarray(model.user_vectors(history), dtype=np.float32)
    return BenchCatalogue(ids + [f"synthetic-{j}" for j in range(extra)], vectors, user_vectors)
