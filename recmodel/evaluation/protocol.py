"""The cold-start measurements of one split, from full-catalogue scores (Pembek et al. / ALDI conventions).

Three measurements, each per test case so that intervals and paired tests can be taken over users:

- ``cold_only``: the target is a cold item and is ranked among the cold items only (ALDI / CLCRec);
- ``cold_full``: the target is a cold item and is ranked among all items;
- ``warm``: warm targets among all items, with the share of cold items in each top 10 (``exposure``) and the
  NDCG@10 the same scores give when cold items are left out of the ranking (so ``exposure_cost`` is what
  surfacing new items costs warm users).

In every measurement the items the user interacted with before the target are removed from the ranking
(history masked), so systems with and without a learned repeat term are compared alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recmodel.data.splits import EvalCases

METRICS = ("hr@10", "ndcg@10", "recall@20", "ndcg@20")


def per_case_metrics(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-case HR@10, NDCG@10, Recall@20 and NDCG@20 from 0-based target ranks (one relevant item per case,
    so Recall@20 equals HR@20)."""
    ranks = np.asarray(ranks, dtype=np.float64)

    def ndcg(k: int) -> np.ndarray:
        return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)

    return {
        "hr@10": (ranks < 10).astype(np.float64),
        "ndcg@10": ndcg(10),
        "recall@20": (ranks < 20).astype(np.float64),
        "ndcg@20": ndcg(20),
    }


def masked(scores: np.ndarray, cases: EvalCases) -> np.ndarray:
    """A copy of (C, N) ``scores`` with every item seen before each case's target set to -inf (target kept)."""
    out = np.array(scores, dtype=np.float32, copy=True)
    for row, seen in enumerate(cases.seen):
        out[row, seen[seen != cases.targets[row]]] = -np.inf
    return out


def ranks_among(scores: np.ndarray, targets: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """0-based rank of each target among the ``candidates`` columns (ties count against the target)."""
    target_scores = scores[np.arange(len(targets)), targets][:, None]
    return (scores[:, candidates] >= target_scores).sum(1) - 1


@dataclass(frozen=True)
class SplitMeasurement:
    """Per-case metric vectors of one system on one split."""

    cold_only: dict[str, np.ndarray]
    cold_full: dict[str, np.ndarray]
    warm: dict[str, np.ndarray]
    warm_without_cold: dict[str, np.ndarray]
    exposure: np.ndarray  # (warm cases,) share of cold items in the top 10

    def summary(self) -> dict[str, float]:
        """Means of every measurement (flat keys such as ``cold_only/hr@10``)."""
        out: dict[str, float] = {}
        for name in ("cold_only", "cold_full", "warm", "warm_without_cold"):
            for metric, values in getattr(self, name).items():
                out[f"{name}/{metric}"] = float(values.mean()) if len(values) else 0.0
        out["exposure_top10"] = float(self.exposure.mean()) if len(self.exposure) else 0.0
        out["exposure_cost_ndcg10"] = out["warm_without_cold/ndcg@10"] - out["warm/ndcg@10"]
        return out


def measure(
    cold_scores: np.ndarray,
    cold_cases: EvalCases,
    warm_scores: np.ndarray,
    warm_cases: EvalCases,
    cold_items: np.ndarray,
) -> SplitMeasurement:
    """All three measurements from (cold cases, N) and (warm cases, N) full-catalogue scores."""
    n = len(cold_items)
    for name, scores, cases in (("cold_scores", cold_scores, cold_cases), ("warm_scores", warm_scores, warm_cases)):
        if scores.shape != (len(cases), n):
            raise ValueError(f"{name}: expected shape {(len(cases), n)}, got {scores.shape}")
    cold_idx = np.flatnonzero(cold_items)
    warm_idx = np.flatnonzero(~cold_items)
    cold_masked = masked(cold_scores, cold_cases)
    warm_masked = masked(warm_scores, warm_cases)
    all_idx = np.arange(n)
    if len(warm_cases):
        top10 = np.argpartition(-warm_masked, min(10, n - 1), axis=1)[:, :10]
        rankable = np.isfinite(np.take_along_axis(warm_masked, top10, axis=1))  # a masked item is not shown
        exposure = (cold_items[top10] & rankable).sum(axis=1) / np.maximum(rankable.sum(axis=1), 1)
    else:
        exposure = np.zeros(0)
    return SplitMeasurement(
        cold_only=per_case_metrics(ranks_among(cold_masked, cold_cases.targets, cold_idx)),
        cold_full=per_case_metrics(ranks_among(cold_masked, cold_cases.targets, all_idx)),
        warm=per_case_metrics(ranks_among(warm_masked, warm_cases.targets, all_idx)),
        warm_without_cold=per_case_metrics(ranks_among(warm_masked, warm_cases.targets, warm_idx)),
        exposure=exposure,
    )
