"""New items placed by their closest recent history item, served exactly as offline scoring scores them.

With a closest-item content channel (``ranker.model.content_channel``, aggregate ``max``) an item without training
events scores ``user @ item`` (which holds the uniform lift) plus sigma(u) * weight * max_j(h_j . q) / scale: not a
dot product, so no index can rank by it. The search leaves the new items out, they are scored here exactly and
merged with the search's top-k as history items are (:func:`ranker.service.repeat.merge_history`). The work is
linear in the number of new items (those upserted since the model was trained); above ``limit`` of them the term
is skipped, their dot-product score stands, and the answer is flagged ``DEGRADATION_NEW_ITEM_MATCH_SKIPPED``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker.index.item_index import ItemIndex
from ranker.model.new_item_boost import NewItemBoost
from ranker.service.history import HistoryBatch


@dataclass(frozen=True)
class NewItems:
    """The index rows of the items without training events, and their ids."""

    ids: list[str]
    rows: np.ndarray  # (n,) int64

    @classmethod
    def flagged(cls, index: ItemIndex, boost: NewItemBoost, limit: int) -> NewItems | None:
        """The live rows of the index whose new-item flag (the first of the boost's columns: 1 for an item without
        training events; deleted rows are zero) is set, or None when there are more than ``limit`` of them."""
        vectors = index.vectors
        rows = np.flatnonzero(vectors[:, vectors.shape[1] - boost.width] > 0.5)
        if len(rows) > limit:
            return None
        return cls(index.ids_of_rows(rows), rows.astype(np.int64))

    @classmethod
    def none(cls) -> NewItems:
        """No new items scored apart."""
        return cls([], np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ids)


def new_item_terms(
    boost: NewItemBoost, users: np.ndarray, batch: HistoryBatch, vectors: np.ndarray, new: NewItems
) -> np.ndarray:
    """(B, n) the content term of every new item for the B users of ``batch`` (their served vectors ``users``),
    from the index ``vectors`` of the history positions and of the new items."""
    if not len(new):
        return np.zeros((len(users), 0), dtype=np.float32)
    return boost.served_terms(users, batch.item_vectors, batch.lengths, vectors[new.rows])


def scored_apart(
    new: NewItems, terms: np.ndarray, history: dict[str, tuple[int, float]] | None
) -> dict[str, tuple[int, float]]:
    """item id -> (index row, score added to ``user @ item``) for one user: its new items (their content term)
    and its history items (their repeat bias, ``history``; an item in both gets both)."""
    out = dict(history or {})
    for item, row, term in zip(new.ids, new.rows.tolist(), terms.tolist(), strict=True):
        out[item] = (row, out[item][1] + term) if item in out else (row, term)
    return out
