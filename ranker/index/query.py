"""What one ranking request asks of the index, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ranker.index.facets import ItemFilterSpec


@dataclass
class SearchQuery:
    """One ranking request against the index. ``user`` is a row of the batch's user-vector matrix."""

    user: int
    k: int
    exclude_ids: frozenset[str] = frozenset()
    candidate_ids: list[str] | None = None  # None: the whole catalogue
    filter: ItemFilterSpec | None = None  # None: every item is eligible

    @property
    def filtered(self) -> bool:
        return self.filter is not None and not self.filter.empty


@dataclass
class SearchResult:
    item_ids: list[str]
    scores: np.ndarray  # (<=k,) float32, best first
    unknown_candidate_ids: list[str] = field(default_factory=list)
