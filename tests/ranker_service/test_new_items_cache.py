"""The new items a batch scores apart are found once per index version, not by a scan of every row per batch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from ranker.index import ItemIndex
from ranker.service import recommend as recommend_module
from ranker.service.metrics import RankerMetrics
from ranker.service.new_items import NewItems
from ranker.service.recommend import RecommendPipeline
from ranker.service.settings import RankerSettings


def test_index_version_changes_with_every_upsert_and_removal() -> None:
    index = ItemIndex.build(["a", "b"], np.eye(2, dtype=np.float32))
    seen = {index.version}
    index.upsert(["c"], np.ones((1, 2), np.float32))
    seen.add(index.version)
    index.upsert(["a"], np.zeros((1, 2), np.float32))  # a replacement changes the rows too
    seen.add(index.version)
    assert index.remove(["b"]) == ["b"]
    seen.add(index.version)
    assert len(seen) == 4
    index.remove(["unknown"])  # nothing removed: nothing derived from the rows is stale
    assert index.version in seen


def test_new_items_are_rescanned_only_when_the_index_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[ItemIndex] = []

    def flagged(index: ItemIndex, boost: Any, limit: int) -> NewItems:
        scans.append(index)
        ids = index.ids()
        vectors = index.vectors_of(ids)
        return NewItems(
            ids,
            np.arange(len(ids), dtype=np.int64),
            vectors,
            vectors[:, :0],
            frozenset(ids),
            {i: j for j, i in enumerate(ids)},
        )

    monkeypatch.setattr(recommend_module.NewItems, "flagged", staticmethod(flagged))
    unused: Any = None  # user state, compute worker, popularity: _new_items needs none of them
    pipeline = RecommendPipeline(
        RankerSettings(), lambda: state, unused, unused, unused, RankerMetrics(CollectorRegistry())
    )
    model = SimpleNamespace(boost=SimpleNamespace(exact=True))  # a ServingModel whose boost has an exact term
    index = ItemIndex.build(["a", "b"], np.eye(2, dtype=np.float32))
    state: Any = SimpleNamespace(model=model, index=index)
    first = pipeline._new_items(state)
    assert pipeline._new_items(state) is first and len(scans) == 1
    index.upsert(["c"], np.ones((1, 2), np.float32))
    again = pipeline._new_items(state)
    assert again is not None and again.ids == ["a", "b", "c"] and len(scans) == 2
    state.index = ItemIndex.build(["x"], np.ones((1, 2), np.float32))  # a reload serves a new index
    reloaded = pipeline._new_items(state)
    assert reloaded is not None and reloaded.ids == ["x"] and len(scans) == 3
