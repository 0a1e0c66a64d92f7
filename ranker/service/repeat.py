"""The artifact's repeat bias at serving time: history items are scored apart from the index and merged in.

The index ranks by ``user @ item`` alone. An item in the user's history scores that plus the learned bias of
its history positions (``recmodel.model.repeat_bias``), which can move it far down (never re-consumed) or up
(re-consumed soon after). So the search leaves the history items out and they are scored exactly here, which
gives the same top-k as scoring the whole catalogue with the bias, whatever its sign.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from ranker.index import SearchQuery, SearchResult
from ranker.service.history import UsableHistory


def history_item_bias(history: UsableHistory, bias: np.ndarray) -> dict[str, tuple[int, float]]:
    """item id -> (index row, summed bias) over the history's positions; ``bias`` is the row's (L,) biases."""
    total: dict[str, float] = defaultdict(float)
    rows: dict[str, int] = {}
    biases = bias[: len(history.rows)].tolist()  # one conversion, not a numpy scalar per position
    for item, row, value in zip(history.item_ids, history.rows, biases, strict=True):
        total[item] += value
        rows[item] = row
    return {item: (rows[item], total[item]) for item in rows}


def search_without(query: SearchQuery, scored_apart: Iterable[str]) -> SearchQuery:
    """``query`` with the items scored apart (by :func:`merge_history`) also excluded from the search."""
    return replace(query, exclude_ids=query.exclude_ids | frozenset(scored_apart))


def merge_history(
    result: SearchResult,
    user: np.ndarray,
    vectors: np.ndarray,
    history_bias: dict[str, tuple[int, float]],
    query: SearchQuery,
    eligible: Callable[[str], bool] = lambda _: True,
) -> SearchResult:
    """Top ``query.k`` of ``result`` (history items excluded) and the history items scored ``user @ vector +
    bias``; items the query excludes, outside its candidate list when it has one, or not ``eligible`` under its
    filter stay out."""
    allowed = None if query.candidate_ids is None else set(query.candidate_ids)
    items = [
        (item, row, bias)
        for item, (row, bias) in history_bias.items()
        if item not in query.exclude_ids and (allowed is None or item in allowed) and eligible(item)
    ]
    if not items:
        return result
    rows = np.array([row for _, row, _ in items], dtype=np.int64)
    scores = vectors[rows] @ user + np.array([bias for _, _, bias in items], dtype=np.float32)
    all_ids = list(result.item_ids) + [item for item, _, _ in items]
    all_scores = np.concatenate([result.scores.astype(np.float32), scores.astype(np.float32)])
    order = np.argsort(-all_scores, kind="stable")[: query.k]
    return SearchResult(
        [all_ids[i] for i in order], all_scores[order], unknown_candidate_ids=result.unknown_candidate_ids
    )
