"""Choosing the new-item boost on validation: the content channel and the uniform lift together, within budgets.

For every content setting (no channel, or a match aggregate (mean profile or closest recent item, see
:mod:`recmodel.model.content_channel`) x a profile length L x a weight w) and every ``beta`` of its grid (the
uniform lift; negative lowers new items), validation NDCG@10 is measured on warm targets, on cold targets (full
ranking) and, with ``max_image_free_cost`` > 0, on warm targets with every image absent. A setting's beta is its
largest one whose warm NDCG@10 keeps (1 - ``max_warm_cost``) of the value without any boost and whose image-free
NDCG@10 keeps (1 - ``max_image_free_cost``) of its own; the setting whose beta gives the best cold NDCG@10 wins
(cold-only NDCG@10, cold targets among the new items, breaks ties; then the smaller weight, then the mean match).
Content settings need ``train.new_item_content_dims`` > 0 and at least ``MIN_COLD_CASES`` cold validation targets.

Every grid value is measured, not only those before the first one over budget: validation NDCG@10 moves in steps
of about 0.5% (one of 848 targets changing rank), so a walk that stopped at the first dip would stop on noise.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from recmodel.data.splits import EvalCases, Split
from recmodel.evaluation.protocol import masked, per_case_metrics, ranks_among
from recmodel.model.catalogue import Catalogue
from recmodel.model.content_channel import ContentChannel, ContentCodes
from recmodel.model.new_item_boost import NewItemBoost
from recmodel.model.recommender import Recommender
from recmodel.training.scoring import case_history_codes, score_and_users

BETA_GRID = tuple(round(0.05 * k, 2) for k in range(1, 41))  # 0.05 .. 2
CONTENT_BETA_GRID = tuple(round(0.05 * k, 2) for k in range(-60, 41))  # -3 .. 2
PROFILE_GRID = (1, 3, 5, 10, 20)
WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
MIN_COLD_CASES = 20
SELECTION_METRIC = "ndcg@10"
Aggregate = Literal["mean", "max"]


@torch.no_grad()
def item_matrix(model: Recommender, catalogue: Catalogue) -> np.ndarray:
    """(N, D) item vectors of the whole catalogue, as the scorer sees them."""
    model.eval()
    return torch.cat(model.catalogue_vectors(catalogue.inputs(), catalogue.trained_mask()), dim=-1).numpy()


def fit_content_codes(catalogue: Catalogue, trained: np.ndarray, dims: int) -> ContentCodes:
    """Content codes fitted on the trained items of the catalogue."""
    return ContentCodes.fit(catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image, trained, dims)


def _content_term(
    unit: NewItemBoost, codes: np.ndarray, cases: EvalCases, profile_len: int, aggregate: Aggregate
) -> np.ndarray:
    """(C, N) match / scale for every item, ``codes`` being the catalogue's (the weight and sigma(u) not applied)."""
    assert unit.content is not None
    channel = ContentChannel(unit.content.codes, 1.0, profile_len, unit.content.scale, aggregate)
    padded, lengths = case_history_codes(codes, cases)
    return channel.match(padded, lengths, codes) / channel.scale


def select_new_item_boost(
    model: Recommender,
    split: Split,
    catalogue: Catalogue,
    max_warm_cost: float,
    grid: tuple[float, ...] = BETA_GRID,
    max_image_free_cost: float = 0.0,
    content_dims: int = 0,
    aggregates: tuple[Aggregate, ...] = ("mean",),
) -> tuple[NewItemBoost | None, list[dict[str, float]]]:
    """The boost chosen on validation (see the module docstring) and the table it was chosen from: one row per
    (profile_len, weight, beta) tried, with warm, cold and, when measured, no_images validation NDCG@10 (and the
    cold-only NDCG@10 of each content setting). ``max_warm_cost`` 0 turns the boost off. Untrained items are
    those without training events (``split.train_items`` False), which in the split are the cold items."""
    if max_warm_cost <= 0:
        return None, []
    trained = split.train_items
    base = NewItemBoost.fit(item_matrix(model, catalogue), catalogue.item_ids, trained, 0.0)
    valid = split.valid
    parts = {name: valid.subset(keep) for name, keep in (("warm", ~valid.cold), ("cold", valid.cold))}
    catalogues = {"warm": catalogue, "cold": catalogue}
    if max_image_free_cost > 0 and {"text", "image"} <= set(model.modalities):  # else nothing is left without images
        parts["no_images"] = parts["warm"]
        catalogues["no_images"] = catalogue.without("image")
    scorers = {name: _PartScorer(model, base, catalogues[name], parts[name], trained) for name in parts}
    settings: list[tuple[int, float, Aggregate]] = [(0, 0.0, "mean")]
    codes: dict[str, np.ndarray] = {}
    if content_dims > 0 and len(parts["cold"]) >= MIN_COLD_CASES:
        base = base.with_content(_unit_channel(base, catalogue, split, content_dims))
        settings += [
            (k, w, a)
            for a in aggregates
            for k in PROFILE_GRID
            for w in WEIGHT_GRID
            if w > 0 and not (a == "max" and k == 1)  # one item: max and mean are the same match
        ]
        grid = CONTENT_BETA_GRID
        codes = {name: base.codes(c.text, c.image, c.has_text, c.has_image) for name, c in catalogues.items()}
    reference = {name: scorer.metric(0.0, None) for name, scorer in scorers.items()}
    budgets = {"warm": max_warm_cost} | ({"no_images": max_image_free_cost} if "no_images" in parts else {})
    floors = {name: (1.0 - cost) * reference[name] for name, cost in budgets.items()}
    table: list[dict[str, float]] = [reference | {"beta": 0.0}]
    best: tuple[tuple[float, float, float, bool], int, float, float, Aggregate] | None = None
    unit_terms: dict[tuple[int, Aggregate], dict[str, np.ndarray]] = {}  # one per (L, aggregate), not per weight
    for profile_len, weight, aggregate in settings:
        terms = None
        if weight > 0:
            if (profile_len, aggregate) not in unit_terms:
                unit_terms = {  # settings come grouped by (L, aggregate): keep only the current one in memory
                    (profile_len, aggregate): {
                        name: _content_term(base, codes[name], parts[name], profile_len, aggregate) for name in parts
                    }
                }
            terms = {name: weight * term for name, term in unit_terms[(profile_len, aggregate)].items()}
        cold_only = scorers["cold"].cold_only(terms["cold"] if terms else None) if weight > 0 else 0.0
        within = []
        for beta in grid:
            row = {name: scorer.metric(beta, terms[name] if terms else None) for name, scorer in scorers.items()}
            table.append(
                row
                | {
                    "beta": beta,
                    "profile_len": float(profile_len),
                    "weight": weight,
                    "cold_only": cold_only,
                    "max_match": float(aggregate == "max"),
                }
            )
            if all(row[name] >= floor for name, floor in floors.items()):
                within.append((beta, row["cold"]))
        if within:
            beta, cold = max(within)  # the largest beta within budget
            key = (cold, cold_only, -weight, aggregate == "mean")
            if best is None or key > best[0]:
                best = (key, profile_len, weight, beta, aggregate)
    if best is None:
        return None, table
    _, profile_len, weight, beta, aggregate = best
    content = None
    if weight > 0 and base.content is not None:
        content = ContentChannel(base.content.codes, weight, profile_len, base.content.scale, aggregate)
    boost = base.with_content(content).with_beta(beta)
    return (boost if boost.active else None), table


def _unit_channel(base: NewItemBoost, catalogue: Catalogue, split: Split, dims: int) -> ContentChannel:
    """A content channel of weight 1 whose scale is the spread of p . q over validation users and trained items."""
    codes_fit = fit_content_codes(catalogue, split.train_items, dims)
    probe = base.with_content(ContentChannel(codes_fit, 1.0, 1, 1.0))
    codes = probe.codes(catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image)
    assert probe.content is not None
    profiles = probe.content.profiles(*case_history_codes(codes, split.valid))
    scale = float((profiles @ codes[split.train_items].T).std()) or 1.0
    return ContentChannel(codes_fit, 1.0, 1, scale)


class _PartScorer:
    """Validation NDCG@10 of one part (warm, cold or no_images cases) under any (beta, content term) quickly: only
    new items move, so the trained items' share of each rank is counted once."""

    def __init__(
        self, model: Recommender, boost: NewItemBoost, catalogue: Catalogue, cases: EvalCases, trained: np.ndarray
    ) -> None:
        self.cases = cases
        scores, users = score_and_users(model, catalogue, cases)
        self.scores = scores
        self.sigma = boost.spread(users).astype(np.float32)[:, None]
        self.new = np.flatnonzero(~trained)
        self.old = np.flatnonzero(trained)
        rows = np.arange(len(cases))
        self.target_new = ~trained[cases.targets] if len(cases) else np.zeros(0, bool)
        target = scores[rows, cases.targets][:, None]
        self.target = target
        self.old_above = (scores[:, self.old] >= target).sum(1)  # for trained targets (the target itself included)

    def metric(self, beta: float, term: np.ndarray | None) -> float:
        if len(self.cases) == 0:
            return 0.0
        lift = self.sigma * (beta + (term[:, self.new] if term is not None else 0.0))
        new_scores = self.scores[:, self.new] + lift
        target = self.target.copy()
        if self.target_new.any():
            position = np.searchsorted(self.new, self.cases.targets[self.target_new])
            target[self.target_new, 0] = new_scores[self.target_new, position]
        old_above = np.where(self.target_new, (self.scores[:, self.old] >= target).sum(1), self.old_above)
        ranks = old_above + (new_scores >= target).sum(1) - 1
        return float(per_case_metrics(ranks)[SELECTION_METRIC].mean())

    def cold_only(self, term: np.ndarray | None) -> float:
        """NDCG@10 of the (cold) targets ranked among the new items, history masked."""
        scores = self.scores + (self.sigma * term if term is not None else 0.0)
        ranked = masked(scores, self.cases)
        return float(per_case_metrics(ranks_among(ranked, self.cases.targets, self.new))["ndcg@10"].mean())
