"""New items placed by their closest recent history item, served exactly as offline scoring scores them.

With a closest-item content channel (``recmodel.model.content_channel``, aggregate ``max``) an item without training
events scores ``user @ item`` (which holds the uniform lift) plus sigma(u) * weight * max_j(h_j . q) / scale: not a
dot product, so no index can rank by it. The search leaves the new items out, they are scored here exactly and
merged with the search's top-k as history items are (:func:`ranker.service.repeat.merge_history`). The work is
linear in the number of new items (those upserted since the model was trained); above ``limit`` of them the term
is skipped, their dot-product score stands, and the answer is flagged ``DEGRADATION_NEW_ITEM_MATCH_SKIPPED``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from ranker.index import SearchQuery, SearchResult
from ranker.index.item_index import ItemIndex
from ranker.service.history import HistoryBatch
from recmodel.model.new_item_boost import NewItemBoost


@dataclass(frozen=True)
class NewItems:
    """The index rows of the items without training events, and their ids."""

    ids: list[str]
    rows: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, scored columns) float32: their rows of the index, the columns it scores, copied
    codes: np.ndarray  # (n, r) float32: their content codes, contiguous (both valid until the index changes)
    id_set: frozenset[str]
    position: dict[str, int]  # id -> its place in ``ids``

    @classmethod
    def flagged(cls, index: ItemIndex, boost: NewItemBoost, limit: int) -> NewItems | None:
        """The live rows of the index whose new-item flag (the first of the boost's columns: 1 for an item without
        training events; deleted rows are zero) is set, or None when there are more than ``limit`` of them. Built
        once per index change (the caller caches it by ``ItemIndex.version``)."""
        vectors = index.vectors
        rows = np.flatnonzero(vectors[:, vectors.shape[1] - boost.width] > 0.5)
        if len(rows) > limit:
            return None
        ids = index.ids_of_rows(rows)
        items = vectors[rows]
        cols = index.score_columns
        scored = np.ascontiguousarray(items if cols is None else items[:, cols])
        codes = np.ascontiguousarray(items[:, boost.code_columns(vectors.shape[1])])
        return cls(ids, rows.astype(np.int64), scored, codes, frozenset(ids), {item: j for j, item in enumerate(ids)})

    @classmethod
    def none(cls) -> NewItems:
        """No new items scored apart."""
        empty = np.zeros((0, 0), dtype=np.float32)
        return cls([], np.zeros(0, dtype=np.int64), empty, empty, frozenset(), {})

    def __len__(self) -> int:
        return len(self.ids)


class NewItemContenders:
    """Every new item scored exactly for every user of a batch: ``user @ item`` plus its content term. Only a
    user's k best eligible new items (and any new item in its history) can reach its top k, so only those are
    merged with the search results; the search itself may return new items, which are dropped from its results."""

    def __init__(
        self,
        boost: NewItemBoost,
        users: np.ndarray,
        batch: HistoryBatch,
        new: NewItems,
        score_columns: np.ndarray | None = None,
        k: int = 10,
    ) -> None:
        """``score_columns``: the columns the index scores (those ``new.vectors`` hold); None: all of them. ``k``:
        the largest k of the batch's queries (how many best new items per user are ordered up front)."""
        self.new = new
        self.terms = boost.served_terms(users, batch.item_vectors, batch.lengths, new.codes)  # (B, n)
        scored = users if score_columns is None else users[:, score_columns]
        self.scores = scored @ new.vectors.T + self.terms
        self.ids = new.id_set
        # every user's best new items, best first, in one batched top-k (a per-user argpartition cost 4x as much)
        self._shortlist = min(len(new), _looked(k))
        self._best = torch.topk(torch.from_numpy(self.scores), self._shortlist, dim=1).indices.numpy()

    def drop_from(self, result: SearchResult) -> SearchResult:
        """``result`` without the new items (they come back exactly scored through :meth:`scored_apart`)."""
        keep = [i for i, item in enumerate(result.item_ids) if item not in self.ids]
        if len(keep) == len(result.item_ids):
            return result
        return replace(result, item_ids=[result.item_ids[i] for i in keep], scores=result.scores[keep])

    def scored_apart(
        self,
        row: int,
        query: SearchQuery,
        eligible: Callable[[str], bool],
        history: dict[str, tuple[int, float]],
    ) -> dict[str, tuple[int, float]]:
        """item id -> (index row, score added to ``user @ item``) for the batch's ``row``-th user: its history
        items (their repeat bias, ``history``), with the content term added to the new ones among them, and its
        ``query.k`` best new items that the query allows (their content term)."""
        out = dict(history)
        terms = self.terms[row]
        for item in [h for h in history if h in self.ids]:
            out[item] = (out[item][0], out[item][1] + float(terms[self.new.position[item]]))
        allowed = None if query.candidate_ids is None else set(query.candidate_ids)
        scores = self.scores[row]
        found, looked = 0, min(len(scores), _looked(query.k), self._shortlist)
        while True:
            order = self._best[row, :looked] if looked <= self._shortlist else np.argsort(-scores, kind="stable")
            for j in order.tolist():
                item = self.new.ids[j]
                if item in out:
                    continue
                if item in query.exclude_ids or (allowed is not None and item not in allowed) or not eligible(item):
                    continue
                out[item] = (int(self.new.rows[j]), float(terms[j]))
                found += 1
                if found == query.k:
                    return out
            if looked == len(scores):
                return out
            looked = len(scores)  # too few eligible among the best: walk them all (items already taken stay)


def _looked(k: int) -> int:
    """How many of a user's best new items are looked at first: enough unless most of them are ineligible."""
    return 4 * k + 16
