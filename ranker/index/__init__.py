"""Item index: projected item vectors scored exactly (matmul) or via an ANN shortlist plus exact re-scoring."""

from ranker.index.config import IndexConfig
from ranker.index.facets import ItemFilterSpec
from ranker.index.item_index import ItemIndex
from ranker.index.query import SearchQuery, SearchResult

__all__ = ["IndexConfig", "ItemFilterSpec", "ItemIndex", "SearchQuery", "SearchResult"]
