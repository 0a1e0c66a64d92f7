"""Timing for the benchmarks: the best of a few runs after a warm-up (the least disturbed by a noisy machine)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Run ``fn`` once to warm up, then ``repeats`` times; the fastest run's seconds."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
