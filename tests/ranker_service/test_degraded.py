"""Degraded dependencies: user-state slow or down (answer within the deadline, flagged), encoders down."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kairos.v1 import events_pb2, ranker_pb2
from recmodel.model.serving import ServingModel
from tests.ranker_service.conftest import RankerProcess, launch_ranker
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Degradation = ranker_pb2.Degradation
T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def black_hole() -> Iterator[socket.socket]:
    """A port that accepts TCP connections and never answers: a user-state service that hangs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def ranker(
    tmp_path_factory: pytest.TempPathFactory, artifact: Path, black_hole: socket.socket
) -> Iterator[RankerProcess]:
    host, port = black_hole.getsockname()
    dead_triton = f"127.0.0.1:{free_port()}"
    env = {"KAIROS_RANKER_USER_STATE__TIMEOUT_S": "5", "KAIROS_RANKER_COMPUTE_RESERVE_MS": "250"}
    workdir = tmp_path_factory.mktemp("degraded")
    process = launch_ranker(workdir, artifact, f"{host}:{port}", "--triton", dead_triton, env=env)
    yield process
    process.stop()


def inline_events(artifact: Path, n: int) -> list[events_pb2.Event]:
    ids = ServingModel.load(artifact).catalogue().item_ids
    return [events_pb2.Event(event_id=f"e{j}", item_id=ids[j * 7], timestamp_ms=T0 + j * 60_000) for j in range(n)]


def test_slow_user_state_answers_within_the_callers_deadline(ranker: RankerProcess, artifact: Path) -> None:
    request = ranker_pb2.RecommendRequest(user_id="u1", k=5, recent_events=inline_events(artifact, 6))
    start = time.monotonic()
    reply = ranker.stub.Recommend(request, timeout=1.0)
    elapsed = time.monotonic() - start
    assert elapsed < 1.0
    assert elapsed >= 0.6  # it waited for user state as long as the deadline allowed (its own cap is 5 s)
    assert list(reply.degradations) == [Degradation.DEGRADATION_USER_STATE_UNAVAILABLE]
    assert reply.history_length == 6 and len(reply.items) == 5

    bare = ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="u1", k=5), timeout=1.0)
    assert set(bare.degradations) == {
        Degradation.DEGRADATION_USER_STATE_UNAVAILABLE,
        Degradation.DEGRADATION_POPULARITY_FALLBACK,
    }
    assert len(bare.items) == 5


def test_user_state_down_degrades_fast(ranker: RankerProcess, artifact: Path, black_hole: socket.socket) -> None:
    black_hole.close()  # connections are now refused
    request = ranker_pb2.RecommendRequest(user_id="u2", k=3, recent_events=inline_events(artifact, 3))
    replies = []
    for _ in range(3):
        start = time.monotonic()
        replies.append(ranker.stub.Recommend(request, timeout=2.0))
    elapsed = time.monotonic() - start
    assert elapsed < 0.5
    assert all(list(r.degradations) == [Degradation.DEGRADATION_USER_STATE_UNAVAILABLE] for r in replies)
    assert "kairos_ranker_degradations_total" in ranker.metrics()


def test_encoders_down_fail_the_upsert_and_store_nothing(ranker: RankerProcess) -> None:
    item = ranker_pb2.Item(item_id="never-stored", text="A film about nothing")
    with pytest.raises(grpc.RpcError) as info:
        ranker.stub.UpsertItems(ranker_pb2.UpsertItemsRequest(items=[item]), timeout=20)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    probe = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(user_id="u3", k=1, candidate_ids=["never-stored"]), timeout=2.0
    )
    assert list(probe.unknown_candidate_ids) == ["never-stored"] and not probe.items
