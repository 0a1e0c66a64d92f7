"""Item index: projected item vectors scored exactly (matmul) or via an ANN shortlist plus exact re-scoring."""

from ranker.index.config import IndexConfig
from ranker.index.item_index import ItemIndex, SearchQuery, SearchResult

__all__ = ["IndexConfig", "ItemIndex", "SearchQuery", "SearchResult"]
