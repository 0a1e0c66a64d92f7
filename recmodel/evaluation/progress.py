"""How long an evaluation will take and how far it is: printed before the first run and after every run.

The number of runs is known up front (each model's search candidates on the search seed, then its seeds; the
candidate that wins is its search-seed run); which of them are cached is known only as the plan unfolds, so a
cached run counts as done when the queue reaches it. Minutes per run come from the run cache (median training
time of what it holds) or, on an empty cache, from ``EvalConfig.expected_run_minutes``.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path

from recmodel.evaluation.plan import EvalConfig

LOG = logging.getLogger("recmodel.evaluate")


def planned_runs(eval_cfg: EvalConfig, names: list[str]) -> int:
    """Training runs the evaluation of ``names`` (and the models they build on) needs, cached or not."""
    needed, pending = set(names), list(names)
    while pending:
        base = eval_cfg.spec(pending.pop()).base
        if base is not None and base not in needed:
            needed.add(base)
            pending.append(base)
    total = 0
    for name in needed:
        spec = eval_cfg.spec(name)
        seeds = spec.seeds or eval_cfg.seeds
        runs = len(seeds) if name in names else 0
        if spec.search:
            runs += len(spec.search) - (1 if eval_cfg.search_seed in seeds and name in names else 0)
        total += runs
    return total


def minutes_per_run(cache: Path, default: float) -> tuple[float, str]:
    """(minutes, where the figure comes from): the median training time of the cached runs, else ``default``."""
    seconds = []
    for path in cache.glob("*.json"):
        try:
            seconds.append(float(json.loads(path.read_text())["train_seconds"]))
        except (OSError, ValueError, KeyError):
            continue
    if seconds:
        return statistics.median(seconds) / 60, f"median of {len(seconds)} cached runs"
    return default, "expected_run_minutes (no cached run yet)"


class Progress:
    """Counts finished runs (trained or found cached) against the plan and logs the time left."""

    def __init__(self, total: int, workers: int, minutes: float, source: str, announce: bool = True) -> None:
        """``announce``: log the plan now (not for a report written from the cache alone)."""
        self.total, self.workers, self.minutes = total, max(1, workers), minutes
        self.cached = self.trained = 0
        self.started = time.perf_counter()
        if not announce:
            return
        LOG.info(
            "plan: %d training runs, about %.0f min each (%s) with %d side by side: at most %s if none is cached",
            total,
            minutes,
            source,
            self.workers,
            _duration(total * minutes * 60 / self.workers),
        )

    @property
    def done(self) -> int:
        return self.cached + self.trained

    def remaining_s(self) -> float:
        """Seconds left at the current pace (the measured one once a run has trained here, else the estimate)."""
        left = max(0, self.total - self.done)
        if self.trained:
            per_run = (time.perf_counter() - self.started) / self.trained
            return left * per_run
        return left * self.minutes * 60 / self.workers

    def found_cached(self) -> None:
        self.cached += 1

    def finished(self, name: str, seed: int) -> None:
        """A run trained here ended: log how far the plan is."""
        self.trained += 1
        LOG.info(
            "progress: %d of %d runs done (%d cached), %s elapsed, about %s left (%s seed %d finished)",
            self.done,
            self.total,
            self.cached,
            _duration(time.perf_counter() - self.started),
            _duration(self.remaining_s()),
            name,
            seed,
        )


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
