"""End to end against real servers: user-state, Triton (item encoders) and the ranker, on random ports."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from kairos.v1 import events_pb2, ranker_pb2, user_state_pb2, user_state_pb2_grpc
from recmodel.model.serving import ServingModel
from recmodel.settings import RankerPaths
from tests.ranker_service.conftest import RankerProcess, launch_ranker

pytestmark = [pytest.mark.integration, pytest.mark.triton, pytest.mark.slow]

T0 = 1_700_000_000_000
MINUTE = 60_000
Degradation = ranker_pb2.Degradation


@pytest.fixture(scope="module")
def ranker(
    tmp_path_factory: pytest.TempPathFactory, artifact: Path, user_state_address: str, triton_url: str
) -> Iterator[RankerProcess]:
    process = launch_ranker(tmp_path_factory.mktemp("e2e"), artifact, user_state_address, "--triton", triton_url)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def offline(artifact: Path) -> ServingModel:
    return ServingModel.load(artifact)


def append(address: str, user: str, items: list[str], start_ms: int = T0) -> list[int]:
    times = [start_ms + j * MINUTE for j in range(len(items))]
    events = [
        events_pb2.Event(event_id=f"{user}-{j}", user_id=user, item_id=item, timestamp_ms=t)
        for j, (item, t) in enumerate(zip(items, times, strict=True))
    ]
    with grpc.insecure_channel(address) as channel:
        user_state_pb2_grpc.UserStateStub(channel).AppendEvents(
            user_state_pb2.AppendEventsRequest(events=events), timeout=10
        )
    return times


def offline_top(model: ServingModel, history: list[str], times: list[int], request_ms: int, k: int):
    """Top-k of the model called directly (no service): one user vector against every catalogue item."""
    c = model.catalogue()
    rows = [c.item_ids.index(i) for i in history]
    items = model.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=c.item_ids)
    user = model.user_vectors_from_item_vectors(
        items[rows][None], np.array([times]), np.array([len(rows)]), np.array([request_ms])
    )
    scores = (user @ items.T)[0]
    bias = model.history_bias(np.array([times]), np.array([len(rows)]), np.array([request_ms]))
    if bias is not None:  # the repeat bias of the history items
        np.add.at(scores, rows, bias[0])
    top = np.argsort(-scores, kind="stable")[:k]
    return [c.item_ids[j] for j in top], scores[top]


def recommend_like_offline(
    ranker: RankerProcess, offline: ServingModel, user_state_address: str, user: str, history: list[str]
) -> tuple[ranker_pb2.RecommendResponse, list[int], int]:
    """Store ``history`` for ``user``, ask the ranker for 10 items 3 hours after the last event and assert the
    reply is the offline model's top 10 (ids and scores); returns (reply, event times, request time)."""
    times = append(user_state_address, user, history)
    request_ms = times[-1] + 3 * 3_600_000
    reply = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(user_id=user, k=10, request_time_ms=request_ms), timeout=5
    )
    expected_ids, expected_scores = offline_top(offline, history, times, request_ms, 10)
    assert [i.item_id for i in reply.items] == expected_ids
    np.testing.assert_allclose([i.score for i in reply.items], expected_scores, rtol=1e-4, atol=1e-5)
    return reply, times, request_ms


def test_recommend_matches_the_offline_model(ranker: RankerProcess, offline: ServingModel, user_state_address):
    ids = offline.catalogue().item_ids
    history = [ids[j] for j in (10, 250, 33, 900, 41, 1200, 7, 77, 640, 5)]
    reply, _, request_ms = recommend_like_offline(ranker, offline, user_state_address, "parity-user", history)
    assert reply.model_version == offline.version
    assert reply.history_length == len(history) and not reply.degradations
    assert reply.request_time_ms == request_ms


def test_filters_inline_events_and_flags(ranker: RankerProcess, offline: ServingModel, user_state_address) -> None:
    ids = offline.catalogue().item_ids
    history = ids[100:120]
    times = append(user_state_address, "filter-user", history)
    now = times[-1] + MINUTE
    top = ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="filter-user", k=50, request_time_ms=now))
    unseen = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(user_id="filter-user", k=50, request_time_ms=now, exclude_seen=True)
    )
    assert not {i.item_id for i in unseen.items} & set(history)
    assert len(unseen.items) == 50
    candidates = [top.items[5].item_id, top.items[2].item_id, "no-such-item"]
    restricted = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(user_id="filter-user", k=5, request_time_ms=now, candidate_ids=candidates)
    )
    assert [i.item_id for i in restricted.items] == [top.items[2].item_id, top.items[5].item_id]
    assert list(restricted.unknown_candidate_ids) == ["no-such-item"]

    inline = [
        events_pb2.Event(event_id="filter-user-0", item_id=history[0], timestamp_ms=times[0]),  # a duplicate
        events_pb2.Event(event_id="fresh", item_id=ids[500], timestamp_ms=now - 1000),
        events_pb2.Event(event_id="ghost", item_id="not-in-catalogue", timestamp_ms=now - 500),
    ]
    merged = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(user_id="filter-user", k=5, request_time_ms=now, recent_events=inline)
    )
    assert merged.history_length == len(history) + 1
    assert list(merged.degradations) == [Degradation.DEGRADATION_UNKNOWN_HISTORY_ITEMS]

    stranger = ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="never-seen", k=7))
    assert list(stranger.degradations) == [Degradation.DEGRADATION_POPULARITY_FALLBACK]
    assert len(stranger.items) == 7 and stranger.history_length == 0
    assert stranger.items[0].item_id in set(ids)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (ranker_pb2.RecommendRequest(user_id="u", k=0), "k"),
        (ranker_pb2.RecommendRequest(user_id="u", k=-1), "k"),
        (ranker_pb2.RecommendRequest(user_id="u", k=100_000), "k"),
        (ranker_pb2.RecommendRequest(user_id="", k=5), "user_id"),
        (ranker_pb2.RecommendRequest(user_id="u", k=5, request_time_ms=-1), "request_time_ms"),
        (
            ranker_pb2.RecommendRequest(
                user_id="u", k=5, recent_events=[events_pb2.Event(item_id="1", timestamp_ms=-4)]
            ),
            "recent_events[0].timestamp_ms",
        ),
        (
            ranker_pb2.RecommendRequest(user_id="u", k=5, recent_events=[events_pb2.Event(timestamp_ms=T0)]),
            "recent_events[0].item_id",
        ),
    ],
)
def test_bad_recommend_requests_are_invalid_argument(ranker: RankerProcess, message, field: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        ranker.stub.Recommend(message, timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(f"{field}:")


def test_bad_item_writes_are_invalid_argument(ranker: RankerProcess) -> None:
    for call, request, field in [
        (ranker.stub.UpsertItems, ranker_pb2.UpsertItemsRequest(), "items"),
        (
            ranker.stub.UpsertItems,
            ranker_pb2.UpsertItemsRequest(items=[ranker_pb2.Item(item_id="a", text="x")] * 2),
            "items[1].item_id",
        ),
        (ranker.stub.DeleteItems, ranker_pb2.DeleteItemsRequest(), "item_ids"),
        (ranker.stub.DeleteItems, ranker_pb2.DeleteItemsRequest(item_ids=["ok", ""]), "item_ids[1]"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details().startswith(f"{field}:")


def dataset_item(item_id: str) -> tuple[dict[str, str], bytes]:
    """Text fields and poster bytes of a catalogue item, read from the dataset."""
    data_dir = RankerPaths().data_dir
    with (data_dir / "items.csv").open(newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["item_id"] == item_id)
    image = (data_dir / row["image"]).read_bytes() if row["image"] else b""
    return {k: row[k] for k in ("title", "genres", "plot")}, image


def test_upserted_item_resembling_the_history_is_recommended(ranker: RankerProcess, offline, user_state_address):
    ids = offline.catalogue().item_ids
    history = ids[300:315]
    times = append(user_state_address, "fresh-user", history)
    now = times[-1] + MINUTE
    request = ranker_pb2.RecommendRequest(user_id="fresh-user", k=10, request_time_ms=now, exclude_seen=True)
    before = ranker.stub.Recommend(request, timeout=5)
    best = before.items[0].item_id  # the catalogue item that matches this history best
    fields, image = dataset_item(best)
    assert image, "the best item has a poster"
    reply = ranker.stub.UpsertItems(
        ranker_pb2.UpsertItemsRequest(
            items=[
                ranker_pb2.Item(item_id="lookalike", text_fields=fields, image=image),
                ranker_pb2.Item(item_id="broken-poster", text="A film", image=b"\xff\xd8\xff not really a jpeg"),
                ranker_pb2.Item(item_id="empty"),
            ]
        ),
        timeout=30,
    )
    assert reply.upserted == 1
    assert [(r.item_id, r.ok) for r in reply.results] == [
        ("lookalike", True),
        ("broken-poster", False),
        ("empty", False),
    ]
    assert reply.results[1].error.startswith("items[1].image:")
    assert reply.results[2].error.startswith("items[2]:")

    after = ranker.stub.Recommend(request, timeout=5)  # visible as soon as acknowledged
    top = [i.item_id for i in after.items]
    assert "lookalike" in top[:3] and best in top[:3]
    scores = {i.item_id: i.score for i in after.items}
    assert scores["lookalike"] == pytest.approx(scores[best], rel=1e-2, abs=1e-3)
    assert "broken-poster" not in top

    metrics = ranker.metrics()
    info = next(line for line in metrics.splitlines() if line.startswith("kairos_ranker_model_info{"))
    assert f'version="{offline.version}"' in info and 'new_item_boost="0.00"' in info and info.endswith(" 1.0")
    assert f"kairos_ranker_index_items {len(ids) + 1}.0" in metrics
    assert "kairos_ranker_batch_size_count" in metrics

    deleted = ranker.stub.DeleteItems(ranker_pb2.DeleteItemsRequest(item_ids=["lookalike", "missing"]), timeout=5)
    assert deleted.deleted == 1 and list(deleted.not_found) == ["missing"]
    gone = ranker.stub.Recommend(request, timeout=5)
    assert "lookalike" not in [i.item_id for i in gone.items]


def test_exclude_ids_are_filtered_inside_the_search(ranker: RankerProcess, offline, user_state_address) -> None:
    ids = offline.catalogue().item_ids
    history = ids[200:212]
    times = append(user_state_address, "exclude-user", history)
    now = times[-1] + MINUTE
    plain = ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="exclude-user", k=20, request_time_ms=now))
    top = [i.item_id for i in plain.items]
    dropped = [top[0], top[3], top[7], history[0], "not-in-catalogue"]
    reply = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(user_id="exclude-user", k=20, request_time_ms=now, exclude_ids=dropped)
    )
    served = [i.item_id for i in reply.items]
    assert len(served) == 20 and not set(served) & set(dropped)
    assert served[:16] == [i for i in top if i not in dropped][:16]  # the rest keep their order
    # the no-history fallback honours them too
    fallback = ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="no-history-yet", k=5))
    first = fallback.items[0].item_id
    again = ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="no-history-yet", k=5, exclude_ids=[first]))
    assert first not in [i.item_id for i in again.items] and len(again.items) == 5
    with pytest.raises(grpc.RpcError) as info:
        ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="exclude-user", k=5, exclude_ids=[""]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("exclude_ids[0]:")
