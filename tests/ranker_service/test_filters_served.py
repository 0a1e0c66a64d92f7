"""Attribute and freshness filters against a real ranker (in-process encoders) and user-state: Recommend (model
path, repeat merge and popularity fallback) and SimilarItems return only eligible items, every eligible item when
fewer than k exist, errors name the field, and the attributes survive a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kairos.v1 import ranker_pb2
from recmodel.model.serving import ServingModel
from tests.ranker_service.conftest import RankerProcess, launch_ranker
from tests.ranker_service.test_service_e2e import MINUTE, append

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PUBLISHED_0 = 1_750_000_000_000
ITEMS = 12


def attributes(j: int) -> dict[str, str]:
    """Item j: region eu (j % 3 == 0), us (j % 3 == 1) or none; out of stock when j % 4 == 0."""
    out = {0: {"region": "eu"}, 1: {"region": "us"}, 2: {}}[j % 3]
    return {**out, "in_stock": "false" if j % 4 == 0 else "true"}


def item_ids(keep) -> set[str]:
    return {f"filtered-{j}" for j in range(ITEMS) if keep(j)}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("filters")


@pytest.fixture(scope="module")
def ranker(workdir: Path, artifact: Path, user_state_address: str) -> Iterator[RankerProcess]:
    process = launch_ranker(workdir, artifact, user_state_address)
    items = [
        ranker_pb2.Item(
            item_id=f"filtered-{j}",
            text=f"A film about item {j}: a {['comedy', 'drama', 'thriller'][j % 3]} set in a small town.",
            attributes=attributes(j),
            published_ms=PUBLISHED_0 + j * 1000,
        )
        for j in range(ITEMS)
    ]
    reply = process.stub.UpsertItems(ranker_pb2.UpsertItemsRequest(items=items), timeout=60)
    assert reply.upserted == ITEMS, [r.error for r in reply.results]
    yield process
    process.stop()


@pytest.fixture(scope="module")
def history_user(artifact: Path, user_state_address: str) -> tuple[str, int, list[str]]:
    ids = ServingModel.load(artifact).catalogue().item_ids
    history = list(ids[400:410])
    times = append(user_state_address, "filter-user", history)
    return "filter-user", times[-1] + MINUTE, history


def condition(key: str, *values: str) -> ranker_pb2.AttributeCondition:
    return ranker_pb2.AttributeCondition(key=key, values=list(values))


def recommend(ranker: RankerProcess, user: str, now: int, k: int, **filter_fields) -> list[str]:
    request = ranker_pb2.RecommendRequest(
        user_id=user, k=k, request_time_ms=now, filter=ranker_pb2.ItemFilter(**filter_fields)
    )
    return [i.item_id for i in ranker.stub.Recommend(request, timeout=10).items]


def test_include_returns_every_eligible_item_and_nothing_else(ranker: RankerProcess, history_user) -> None:
    user, now, history = history_user
    assert set(recommend(ranker, user, now, 10, include=[condition("region", "eu")])) == item_ids(lambda j: j % 3 == 0)
    both = recommend(
        ranker, user, now, 10, include=[condition("region", "eu", "us")], exclude=[condition("in_stock", "false")]
    )
    assert set(both) == item_ids(lambda j: j % 3 < 2 and j % 4 != 0)
    assert not set(both) & set(history)  # history items (no attributes) stay out, repeat bias or not


def test_a_broad_exclude_keeps_k_and_the_model_order(ranker: RankerProcess, history_user) -> None:
    user, now, _ = history_user
    plain = recommend(ranker, user, now, 200)
    served = recommend(ranker, user, now, 50, exclude=[condition("region", "eu")])
    eu = item_ids(lambda j: j % 3 == 0)
    assert len(served) == 50 and not set(served) & eu
    assert served == [i for i in plain if i not in eu][:50]


def test_freshness_and_the_popularity_fallback(ranker: RankerProcess, history_user) -> None:
    user, now, _ = history_user
    fresh = recommend(ranker, user, now, 10, published_after_ms=PUBLISHED_0 + 6000)
    assert set(fresh) == item_ids(lambda j: j >= 6)  # artifact items have no publication time
    fallback = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(
            user_id="nobody-yet", k=10, filter=ranker_pb2.ItemFilter(include=[condition("region", "us")])
        ),
        timeout=10,
    )
    assert ranker_pb2.Degradation.DEGRADATION_POPULARITY_FALLBACK in fallback.degradations
    assert {i.item_id for i in fallback.items} == item_ids(lambda j: j % 3 == 1)


def test_similar_items_honour_the_filter(ranker: RankerProcess, artifact: Path) -> None:
    query = ServingModel.load(artifact).catalogue().item_ids[10]
    reply = ranker.stub.SimilarItems(
        ranker_pb2.SimilarItemsRequest(
            item_id=query,
            k=10,
            filter=ranker_pb2.ItemFilter(include=[condition("in_stock", "true")], published_after_ms=PUBLISHED_0 + 1),
        ),
        timeout=10,
    )
    assert {i.item_id for i in reply.items} == item_ids(lambda j: j % 4 != 0 and j >= 1)
    scores = [i.score for i in reply.items]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("item_filter", "field"),
    [
        (ranker_pb2.ItemFilter(include=[condition("", "x")]), "filter.include[0].key"),
        (ranker_pb2.ItemFilter(exclude=[condition("region")]), "filter.exclude[0].values"),
        (
            ranker_pb2.ItemFilter(include=[condition("a", "ok"), condition("b", "ok", "")]),
            "filter.include[1].values[1]",
        ),
        (ranker_pb2.ItemFilter(published_after_ms=-1), "filter.published_after_ms"),
        (ranker_pb2.ItemFilter(include=[condition("k", "v")] * 40), "filter"),
    ],
)
def test_bad_filters_are_invalid_argument(ranker: RankerProcess, item_filter, field: str) -> None:
    for call, request in (
        (ranker.stub.Recommend, ranker_pb2.RecommendRequest(user_id="u", k=5, filter=item_filter)),
        (ranker.stub.SimilarItems, ranker_pb2.SimilarItemsRequest(item_id="x", k=5, filter=item_filter)),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details().startswith(f"{field}:"), info.value.details()


def test_bad_attributes_are_reported_per_item(ranker: RankerProcess) -> None:
    reply = ranker.stub.UpsertItems(
        ranker_pb2.UpsertItemsRequest(
            items=[
                ranker_pb2.Item(item_id="bad-attr", text="a film", attributes={"region": ""}),
                ranker_pb2.Item(item_id="bad-time", text="a film", published_ms=-5),
                ranker_pb2.Item(item_id="fine", text="a film", attributes={"region": "apac"}, published_ms=1),
            ]
        ),
        timeout=30,
    )
    assert [r.ok for r in reply.results] == [False, False, True]
    assert reply.results[0].error.startswith("items[0].attributes['region']:")
    assert reply.results[1].error.startswith("items[1].published_ms:")


def test_reflection_describes_the_new_rpc_and_fields(ranker: RankerProcess) -> None:
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with grpc.insecure_channel(ranker.address) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        assert "kairos.v1.Ranker" in db.get_services()
        found: descriptor_pb2.FileDescriptorProto = db.FindFileContainingSymbol("kairos.v1.Ranker")
    methods = {m.name for m in found.service[0].method}
    assert {"Recommend", "SimilarItems", "UpsertItems", "DeleteItems"} <= methods
    messages = {m.name: {f.name for f in m.field} for m in found.message_type}
    assert {"filter", "exclude_ids"} <= messages["RecommendRequest"]
    assert "filter" in messages["SimilarItemsRequest"]
    assert {"attributes", "published_ms"} <= messages["Item"]
    assert messages["ItemFilter"] == {"include", "exclude", "published_after_ms"}


def test_attributes_survive_a_restart(  # last: it stops the module's ranker
    ranker: RankerProcess, workdir: Path, artifact: Path, user_state_address: str, history_user
) -> None:
    user, now, _ = history_user
    ranker.stop()
    again = launch_ranker(workdir, artifact, user_state_address)  # same data dir: the item store is reopened
    try:
        assert set(recommend(again, user, now, 10, include=[condition("region", "eu")])) == item_ids(
            lambda j: j % 3 == 0
        )
        fresh = recommend(again, user, now, 20, published_after_ms=PUBLISHED_0 + 6000)
        assert set(fresh) == item_ids(lambda j: j >= 6)
    finally:
        again.stop()
