"""The random-ranking reference the evaluation reports print beside every model."""

from __future__ import annotations

import math


def random_ndcg_at_10(items: int) -> float:
    """Expected NDCG@10 of a uniformly random ranking of ``items`` items (one relevant item)."""
    return sum(1.0 / math.log2(rank + 1) for rank in range(1, min(10, items) + 1)) / items
