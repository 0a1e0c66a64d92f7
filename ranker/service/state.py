"""What one model version serves with: the model, its projected item index, and the shared item catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker.catalog.item_catalog import ItemCatalog
from ranker.index import IndexConfig, ItemIndex
from recmodel.model.serving import ServingModel

PROJECTION_CHUNK = 8192


@dataclass(frozen=True)
class ServingState:
    """Swapped as a whole on hot reload; an in-flight batch keeps the state it started with."""

    model: ServingModel
    index: ItemIndex
    catalog: ItemCatalog


def project_rows(model: ServingModel, catalog: ItemCatalog, rows: np.ndarray) -> np.ndarray:
    """Projected vectors of feature-table ``rows`` (chunked to bound memory)."""
    f = catalog.features
    out = np.zeros((len(rows), model.dim), dtype=np.float32)
    for start in range(0, len(rows), PROJECTION_CHUNK):
        r = rows[start : start + PROJECTION_CHUNK]
        ids = [f.ids[i] for i in r]
        out[start : start + len(r)] = model.item_vectors(
            f.text[r], f.image[r], f.has_text[r], f.has_image[r], item_ids=ids
        )
    return out


def build_state(model: ServingModel, catalog: ItemCatalog, config: IndexConfig) -> ServingState:
    """Project every live catalogue item with ``model`` and index the vectors."""
    ids, rows = catalog.features.live_rows()
    attributes, published = catalog.features.facets(rows)
    index = ItemIndex.build(ids, project_rows(model, catalog, rows), config, attributes, published, model.score_columns)
    return ServingState(model, index, catalog)
