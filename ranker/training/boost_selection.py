"""Choosing the new-item boost on validation: the largest ``beta`` whose warm-target cost stays within budget.

Every ``beta`` of the grid is measured, not only those before the first one over budget: validation NDCG@10 moves
in steps of about 0.5% (one of 848 targets changing rank), so a walk that stopped at the first dip would stop on
noise.
"""

from __future__ import annotations

import numpy as np
import torch

from ranker.data.splits import EvalCases, Split
from ranker.metrics import ranking_metrics
from ranker.model.catalogue import Catalogue
from ranker.model.new_item_boost import NewItemBoost
from ranker.model.recommender import Recommender
from ranker.training.scoring import case_ranks, score_and_users, with_boost

BETA_GRID = tuple(round(0.05 * k, 2) for k in range(1, 41))  # 0.05 .. 2
SELECTION_METRIC = "ndcg@10"


@torch.no_grad()
def item_matrix(model: Recommender, catalogue: Catalogue) -> np.ndarray:
    """(N, D) item vectors of the whole catalogue, as the scorer sees them."""
    model.eval()
    return torch.cat(model.item_vectors(catalogue.inputs()), dim=-1).numpy()


def select_new_item_boost(
    model: Recommender,
    split: Split,
    catalogue: Catalogue,
    max_warm_cost: float,
    grid: tuple[float, ...] = BETA_GRID,
    max_image_free_cost: float = 0.0,
) -> tuple[NewItemBoost | None, list[dict[str, float]]]:
    """The largest ``beta`` in ``grid`` whose validation warm NDCG@10 is at least (1 - ``max_warm_cost``) of the
    unboosted value and, with ``max_image_free_cost`` > 0, whose warm NDCG@10 with every image absent is at least
    (1 - ``max_image_free_cost``) of its own unboosted value; returns that boost (None if no beta qualifies) and
    the table (beta, warm, cold and, when measured, no_images validation NDCG@10 for 0 and every grid value) it
    was chosen from.

    ``max_warm_cost`` 0 turns the boost off. Untrained items are those without training events
    (``split.train_items`` False), which in the split are the cold items.
    """
    if max_warm_cost <= 0:
        return None, []
    base = NewItemBoost.fit(item_matrix(model, catalogue), catalogue.item_ids, split.train_items, 0.0)
    valid = split.valid
    parts = {name: valid.subset(keep) for name, keep in (("warm", ~valid.cold), ("cold", valid.cold))}
    scored = {name: score_and_users(model, catalogue, cases) for name, cases in parts.items()}
    if max_image_free_cost > 0 and {"text", "image"} <= set(model.modalities):  # else nothing is left without images
        parts["no_images"] = parts["warm"]
        scored["no_images"] = score_and_users(model, catalogue.without("image"), parts["warm"])

    def metric(name: str, beta: float) -> float:
        cases: EvalCases = parts[name]
        if len(cases) == 0:
            return 0.0
        scores = with_boost(*scored[name], base.with_beta(beta), catalogue.item_ids)
        return ranking_metrics(case_ranks(scores, cases))[SELECTION_METRIC]

    table = [{name: metric(name, beta) for name in parts} | {"beta": beta} for beta in (0.0, *grid)]
    budgets = {"warm": max_warm_cost} | ({"no_images": max_image_free_cost} if "no_images" in parts else {})
    floors = {name: (1.0 - cost) * table[0][name] for name, cost in budgets.items()}
    within = [row["beta"] for row in table if all(row[name] >= floor for name, floor in floors.items())]
    chosen = max(within, default=0.0)
    return (base.with_beta(chosen) if chosen > 0 else None), table
