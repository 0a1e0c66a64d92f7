"""Hot reload in process: item changes made while the new index is built are replayed before the swap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from ranker.catalog.feature_table import FeatureTable
from ranker.catalog.item_catalog import ItemCatalog
from ranker.catalog.records import ItemRecord
from ranker.catalog.sqlite_store import SqliteItemStore
from ranker.index import IndexConfig, ItemFilterSpec, ItemIndex
from ranker.service.compute import ComputeWorker
from ranker.service.metrics import RankerMetrics
from ranker.service.model import load_model
from ranker.service.reload import ModelReloader, StateHolder, _project
from ranker.service.state import ServingState, build_state
from tests.ranker_service.conftest import copy_artifact

pytestmark = pytest.mark.slow


async def test_changes_during_a_reload_reach_the_new_index(tmp_path: Path, artifact: Path) -> None:
    v1 = copy_artifact(artifact, tmp_path / "v1")
    model = load_model(v1)
    catalog = ItemCatalog.open(FeatureTable.from_items(model.catalogue()), SqliteItemStore(tmp_path / "items.sqlite"))
    worker = ComputeWorker()
    holder = StateHolder(build_state(model, catalog, IndexConfig()))
    old_index = holder.state.index
    reloader = ModelReloader(v1, holder, worker, IndexConfig(), RankerMetrics(CollectorRegistry()), poll_s=0)
    doomed = catalog.features.ids[0]

    snapshot = await worker.run(reloader._snapshot, holder.state)  # the reload has copied the catalogue ...
    rng = np.random.default_rng(0)
    record = ItemRecord(
        "added-during-reload", rng.standard_normal(384).astype(np.float32), None, "", 1, {"region": "eu"}, 5
    )
    await worker.run(catalog.upsert, [record])  # ... then an item is upserted and another deleted
    await worker.run(catalog.delete, [doomed])
    new_model = load_model(copy_artifact(artifact, tmp_path / "v2"))
    ids, text, image, has_text, has_image, attributes, published = snapshot
    vectors = _project(new_model, ids, text, image, has_text, has_image)
    index = ItemIndex.build(ids, vectors, IndexConfig(), attributes, published)
    assert "added-during-reload" not in index and doomed in index
    await worker.run(reloader._catch_up_and_swap, ServingState(new_model, index, catalog))

    new = holder.state
    assert new.index is index and new.model is new_model and new.index is not old_index
    assert "added-during-reload" in new.index and doomed not in new.index
    assert len(new.index) == len(catalog.features)
    expected = new_model.item_vectors(
        record.text[None], np.zeros((1, 1280), np.float32), [True], [False], item_ids=[record.item_id]
    )
    np.testing.assert_allclose(new.index.vectors_of(["added-during-reload"]), expected, rtol=1e-6)
    assert new.index.attributes_of("added-during-reload") == {"region": "eu"}  # filters reach the new index
    assert new.index.allows("added-during-reload", ItemFilterSpec(published_after_ms=5))
    assert catalog.features.changed is None  # tracking stopped
    worker.close()


async def test_reload_skips_an_unchanged_artifact_and_swaps_a_changed_one(tmp_path: Path, artifact: Path) -> None:
    current = tmp_path / "current"
    current.symlink_to(copy_artifact(artifact, tmp_path / "first"))
    model = load_model(current)
    catalog = ItemCatalog.open(FeatureTable.from_items(model.catalogue()), SqliteItemStore(tmp_path / "items.sqlite"))
    worker = ComputeWorker()
    holder = StateHolder(build_state(model, catalog, IndexConfig()))
    reloader = ModelReloader(current, holder, worker, IndexConfig(), RankerMetrics(CollectorRegistry()), poll_s=0)
    assert not await reloader.reload()
    current.unlink()
    current.symlink_to(copy_artifact(artifact, tmp_path / "second"))
    assert await reloader.reload()
    assert holder.state.model.version.startswith("second-")
    assert len(holder.state.index) == len(catalog.features)
    worker.close()
