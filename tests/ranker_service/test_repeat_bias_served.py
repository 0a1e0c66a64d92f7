"""The repeat bias served: history items are scored apart from the index and merged in, so the ranker returns
the offline model's top-k whatever the bias's sign, and exclude_seen and candidate lists still hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kairos.v1 import ranker_pb2
from ranker.index import SearchQuery, SearchResult
from ranker.service.history import UsableHistory
from ranker.service.repeat import history_item_bias, merge_history, search_without
from recmodel.model.artifact import MODEL_CONFIG, WEIGHTS
from recmodel.model.serving import ServingModel
from tests.ranker_service.conftest import RankerFactory, copy_artifact
from tests.ranker_service.test_service_e2e import recommend_like_offline


def _history(ids: list[str], rows: list[int]) -> UsableHistory:
    return UsableHistory(rows, ids, list(range(len(ids))), [""] * len(ids), frozenset(ids), 0)


def test_history_item_bias_sums_an_items_positions() -> None:
    h = _history(["a", "b", "a"], [0, 1, 0])
    assert history_item_bias(h, np.array([1.0, -2.0, 0.5])) == {"a": (0, 1.5), "b": (1, -2.0)}


def test_merge_history_ranks_history_items_by_score_plus_bias() -> None:
    vectors = np.eye(4, dtype=np.float32)
    user = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)  # plain scores: a 1, b 2, c 3, d 4
    h = _history(["a", "b"], [0, 1])
    query = SearchQuery(user=0, k=3)
    searched = search_without(query, h.item_ids)
    assert searched.exclude_ids == {"a", "b"} and searched.k == 3
    result = SearchResult(["d", "c"], np.array([4.0, 3.0], dtype=np.float32))
    up = merge_history(result, user, vectors, {"a": (0, 10.0), "b": (1, -10.0)}, query)
    assert up.item_ids == ["a", "d", "c"] and up.scores.tolist() == [11.0, 4.0, 3.0]
    down = merge_history(result, user, vectors, {"a": (0, -0.5), "b": (1, 0.0)}, query)
    assert down.item_ids == ["d", "c", "b"] and down.scores.tolist() == [4.0, 3.0, 2.0]
    excluded = SearchQuery(user=0, k=3, exclude_ids=frozenset({"a"}))
    assert merge_history(result, user, vectors, {"a": (0, 10.0)}, excluded).item_ids == ["d", "c"]
    only_b = SearchQuery(user=0, k=3, candidate_ids=["b", "c"])
    restricted = SearchResult(["c"], np.array([3.0], dtype=np.float32), unknown_candidate_ids=["zz"])
    merged = merge_history(restricted, user, vectors, {"a": (0, 10.0), "b": (1, 5.0)}, only_b)
    assert merged.item_ids == ["b", "c"] and merged.unknown_candidate_ids == ["zz"]


def with_bias(artifact: Path, target: Path, value: float) -> Path:
    """A copy of ``artifact`` whose repeat bias is ``value`` at every gap."""
    folder = copy_artifact(artifact, target)
    scale = json.loads((folder / MODEL_CONFIG).read_text())["repeat_bias_scale"]
    state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    state["repeat_bias.table.weight"] = torch.full_like(state["repeat_bias.table.weight"], value / scale)
    torch.save(state, folder / WEIGHTS)
    return folder


@pytest.mark.integration
@pytest.mark.slow
def test_the_ranker_serves_the_repeat_bias_like_the_offline_model(
    tmp_path: Path, artifact: Path, user_state_address: str, start_ranker: RankerFactory
) -> None:
    assert ServingModel.load(artifact).repeat_bias  # the tiny service artifact is trained with one
    up = with_bias(artifact, tmp_path / "up", 50.0)
    down = with_bias(artifact, tmp_path / "down", -50.0)
    ids = ServingModel.load(up).catalogue().item_ids
    history = [ids[j] for j in (12, 252, 35, 902, 43, 1202)]
    for folder, user in ((up, "repeat-up"), (down, "repeat-down")):
        offline = ServingModel.load(folder)
        ranker = start_ranker(folder, user_state_address, name=user)
        reply, _, request_ms = recommend_like_offline(ranker, offline, user_state_address, user, history)
        served = [i.item_id for i in reply.items]
        if folder == up:  # +50 puts every history item first
            assert set(served[: len(history)]) == set(history)
        else:  # -50 puts none in the top 10
            assert not set(served) & set(history)
        unseen = ranker.stub.Recommend(
            ranker_pb2.RecommendRequest(user_id=user, k=10, request_time_ms=request_ms, exclude_seen=True), timeout=5
        )
        assert not {i.item_id for i in unseen.items} & set(history) and len(unseen.items) == 10
        candidates = [history[0], served[-1], "no-such-item"]
        restricted = ranker.stub.Recommend(
            ranker_pb2.RecommendRequest(user_id=user, k=5, request_time_ms=request_ms, candidate_ids=candidates),
            timeout=5,
        )
        expected = [history[0], served[-1]] if folder == up else [served[-1], history[0]]
        assert [i.item_id for i in restricted.items] == expected
        assert list(restricted.unknown_candidate_ids) == ["no-such-item"]
