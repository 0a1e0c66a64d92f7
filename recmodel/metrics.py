"""Ranking metrics from the 0-based rank of each case's target among all items."""

from __future__ import annotations

import numpy as np

KS = (5, 10, 20, 50)


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target (ties count against the target: the pessimistic, honest choice)."""
    target_scores = scores[np.arange(len(targets)), targets][:, None]
    return (scores >= target_scores).sum(1) - 1


def ranking_metrics(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """HR@K, NDCG@K and MRR@K (leave-one-out: one relevant item per case), averaged over cases."""
    ranks = np.asarray(ranks)
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        out[f"hr@{k}"] = float(hit.mean()) if len(ranks) else 0.0
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean()) if len(ranks) else 0.0
        out[f"mrr@{k}"] = float(np.where(hit, 1.0 / (ranks + 1.0), 0.0).mean()) if len(ranks) else 0.0
    return out
