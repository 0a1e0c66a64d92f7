"""Which exact-scoring copy is faster on this machine: the int8 (or bfloat16) first pass or float32 columns.

Whether an int8 first pass pays depends on the CPU (VNNI width, memory bandwidth), the catalogue and the batch
size, so 'auto' measures it on the index being built instead of trusting a CPU flag: measured on one AVX-512
VNNI VM the int8 pass was 2.0-2.7x faster than float32 at 100k items, on another 1.2-1.9x slower (both with the
codes stored column-wise; item-major codes made one user's pass 3-5x faster). The per-batch time ratios are
averaged geometrically, so an idle request weighs as much as a busy batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

CALIBRATION_MIN_ITEMS = 20_000  # below this both copies cost well under a millisecond: keep the configured one
CALIBRATION_BATCHES = (1, 32)  # an idle request and a busy batch (weighed the same: first_pass_faster)
CALIBRATION_REPEATS = 5
KINDS = ("first_pass", "float32")

# run(kind, users, k): one exact search of the (batch, dim) ``users`` with that copy
ExactRun = Callable[[str, np.ndarray, int], None]


def time_exact_paths(run: ExactRun, vectors: np.ndarray, seed: int = 0) -> dict[str, list[float]]:
    """Seconds per kind at each of CALIBRATION_BATCHES: the median of interleaved timed searches, with item
    vectors sampled from ``vectors`` standing in for users (the same scale as the model's user vectors)."""
    rng = np.random.default_rng(seed)
    medians: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for batch in CALIBRATION_BATCHES:
        users = np.ascontiguousarray(vectors[rng.integers(0, len(vectors), batch)], dtype=np.float32)
        seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for _ in range(CALIBRATION_REPEATS):
            for kind in KINDS:
                started = time.perf_counter()
                run(kind, users, 10)
                seconds[kind].append(time.perf_counter() - started)
        for kind in KINDS:
            medians[kind].append(float(np.median(seconds[kind])))
    return medians


def first_pass_faster(seconds: dict[str, list[float]]) -> bool:
    """Whether the first pass wins on the geometric mean of its per-batch time ratios to float32, so a lone
    request counts as much as a full batch (a sum of seconds would let the batch of 32 decide alone)."""
    ratios = np.asarray(seconds["first_pass"]) / np.maximum(np.asarray(seconds["float32"]), 1e-9)
    return bool(np.log(np.maximum(ratios, 1e-9)).mean() < 0)


def log_choice(items: int, chosen: str, seconds: dict[str, list[float]]) -> None:
    """Log the copy calibration kept and the per-batch times behind the choice."""
    ms = {kind: [round(1000 * t, 3) for t in times] for kind, times in seconds.items()}
    log.info(
        "exact scoring calibrated",
        extra={
            "items": items,
            "chosen": chosen,
            "batches": list(CALIBRATION_BATCHES),
            **{f"{k}_ms": v for k, v in ms.items()},
        },
    )
