"""Full-catalogue scoring of evaluation cases with a trained model."""

from __future__ import annotations

import numpy as np
import torch

from recmodel.data.batches import eval_batch
from recmodel.data.splits import EvalCases
from recmodel.evaluation.protocol import masked
from recmodel.metrics import target_ranks
from recmodel.model.catalogue import Catalogue
from recmodel.model.new_item_boost import NewItemBoost
from recmodel.model.recommender import Recommender, gather_items
from recmodel.model.repeat_bias import add_repeat_bias


@torch.no_grad()
def score_cases(
    model: Recommender,
    catalogue: Catalogue,
    cases: EvalCases,
    batch_size: int = 256,
    boost: NewItemBoost | None = None,
) -> np.ndarray:
    """(C, N) scores of every catalogue item for every case (history unmasked), with ``boost`` when given."""
    scores, users = score_and_users(model, catalogue, cases, batch_size)
    return with_boost(scores, users, boost, catalogue, cases)


def with_boost(
    scores: np.ndarray, users: np.ndarray, boost: NewItemBoost | None, catalogue: Catalogue, cases: EvalCases
) -> np.ndarray:
    """(C, N) ``scores`` of the ``catalogue`` items for the (C, D) ``users`` of ``cases`` plus the new-item boost
    (uniform lift and content channel), computed through the same columns a service appends to its vectors."""
    if boost is None:
        return scores
    codes = None
    profiles = None
    if boost.content is not None:
        codes = boost.codes(catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image)
        if boost.content.linear:
            profiles = case_profiles(boost, codes, cases)
    out = scores + boost.user_columns(users, profiles) @ boost.item_columns(catalogue.item_ids, codes).T
    if boost.exact:
        assert codes is not None
        new = np.flatnonzero(boost.item_column(catalogue.item_ids) > 0)
        padded, lengths = case_history_codes(codes, cases)
        out[:, new] += boost.exact_terms(users, padded, lengths, codes[new])
    return out


def case_history_codes(codes: np.ndarray, cases: EvalCases) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded (C, L, r) content codes of the cases' histories and their (C,) lengths."""
    lengths = np.array([len(h.items) for h in cases.histories], dtype=np.int64)
    width = max(int(lengths.max()) if len(lengths) else 1, 1)
    padded = np.zeros((len(cases), width, codes.shape[1]), dtype=np.float32)
    for row, h in enumerate(cases.histories):
        padded[row, : len(h.items)] = codes[h.items]
    return padded, lengths


def case_profiles(boost: NewItemBoost, codes: np.ndarray, cases: EvalCases) -> np.ndarray:
    """(C, r) content profiles of the cases' histories (as a service computes them from history rows)."""
    if boost.content is None:
        raise ValueError("case_profiles: the boost has no content channel")
    padded, lengths = case_history_codes(codes, cases)
    return boost.content.profiles(padded, lengths)


@torch.no_grad()
def score_and_users(
    model: Recommender, catalogue: Catalogue, cases: EvalCases, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """(C, N) unboosted scores and the (C, D) user vectors they came from."""
    model.eval()
    table = catalogue.inputs()
    items_c = model.catalogue_vectors(table, catalogue.trained_mask())
    matrix = torch.cat(items_c, dim=-1)
    out = np.empty((len(cases), len(catalogue)), dtype=np.float32)
    users = np.empty((len(cases), matrix.shape[1]), dtype=np.float32)
    for start in range(0, len(cases), batch_size):
        rows = np.arange(start, min(start + batch_size, len(cases)))
        batch = eval_batch(cases, rows)
        states = model.encode([c[batch.items] for c in items_c], batch.seq)
        user = Recommender.last_state(states, batch.lengths)
        scores = user @ matrix.T
        if model.simtier is not None:
            scores = scores + model.simtier_scores(gather_items(table, batch.items), batch.seq.mask, table)
        if model.repeat_bias is not None:
            seq = batch.seq
            bias = model.repeat_bias.last_position(seq.times_ms, seq.mask, seq.request_ms[:, -1])
            scores = add_repeat_bias(scores, batch.items, bias)
        out[rows] = scores.numpy()
        users[rows] = user.numpy()
    return out, users


def case_ranks(scores: np.ndarray, cases: EvalCases, mask_history: bool = False) -> np.ndarray:
    """0-based target ranks; with ``mask_history`` every item seen before the target is removed first."""
    return target_ranks(masked(scores, cases) if mask_history else scores, cases.targets)
