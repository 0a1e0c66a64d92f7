"""Replica fan-out: two (then three) ranker processes sharing a real Redis see every upsert and delete."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from kairos.v1 import ranker_pb2
from tests.ranker_service.conftest import RankerFactory, RankerProcess
from tests.support.processes import wait_until
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.triton, pytest.mark.slow]


def returns(ranker: RankerProcess, item_id: str) -> bool:
    reply = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(user_id="fan-user", k=1, candidate_ids=[item_id]), timeout=5
    )
    return bool(reply.items) and reply.items[0].item_id == item_id


def upsert(ranker: RankerProcess, item_id: str, text: str) -> None:
    item = ranker_pb2.Item(
        item_id=item_id, text_fields={"title": text, "genres": "Comedy"}, attributes={"replica_test": item_id}
    )
    reply = ranker.stub.UpsertItems(ranker_pb2.UpsertItemsRequest(items=[item]), timeout=30)
    assert reply.upserted == 1, reply


def test_upserts_and_deletes_reach_every_replica(
    artifact: Path,
    user_state_address: str,
    triton_url: str,
    redis_server: RedisServer,
    start_ranker: RankerFactory,
) -> None:
    common = ("--triton", triton_url, "--redis-url", redis_server.url)
    a = start_ranker(artifact, user_state_address, *common, name="replica-a")
    b = start_ranker(artifact, user_state_address, *common, name="replica-b")

    upsert(a, "fan-1", "A comedy about replicas")
    assert returns(a, "fan-1")  # visible on the writer when acknowledged
    acked = time.monotonic()
    wait_until(lambda: returns(b, "fan-1"), 5, "fan-1 on replica b")
    assert time.monotonic() - acked < 1.0

    deleted = b.stub.DeleteItems(ranker_pb2.DeleteItemsRequest(item_ids=["fan-1"]), timeout=5)
    assert deleted.deleted == 1
    wait_until(lambda: not returns(a, "fan-1"), 5, "fan-1 deleted on replica a")
    upsert(b, "fan-2", "Another comedy")

    c = start_ranker(artifact, user_state_address, *common, name="replica-c")  # joins late: replays the stream
    assert returns(c, "fan-2") and not returns(c, "fan-1")
    for replica in (a, c):  # attributes travel with the item: filters agree on every replica
        only = ranker_pb2.ItemFilter(include=[ranker_pb2.AttributeCondition(key="replica_test", values=["fan-2"])])
        reply = replica.stub.Recommend(ranker_pb2.RecommendRequest(user_id="anyone", k=5, filter=only), timeout=5)
        assert [i.item_id for i in reply.items] == ["fan-2"]
    assert 'kairos_ranker_items_changed_total{op="upsert",source="stream"}' in c.metrics()

    redis_server.stop()  # fan-out down: writes fail whole, nothing is stored anywhere
    with pytest.raises(grpc.RpcError) as info:
        upsert(a, "fan-3", "Never stored")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not returns(a, "fan-3")
    assert returns(a, "fan-2")  # reads keep working
