"""Readiness: health is NOT_SERVING until the encoders answered one text and one image; Recommend works anyway."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kairos.v1 import events_pb2, ranker_pb2, ranker_pb2_grpc
from ranker.service.app import become_ready, build_app
from ranker.service.settings import RankerSettings
from tests.support.ports import free_port

SERVICE = "kairos.v1.Ranker"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _settings(tmp_path: Path, artifact: Path, **overrides: object) -> RankerSettings:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens here
    values = {
        "artifact": artifact,
        "port": 0,
        "metrics_port": None,
        "data_dir": tmp_path / "data",
        "user_state": {"address": dead},
        "artifact_poll_s": 0,
        **overrides,
    }
    return RankerSettings.model_validate(values)


async def _health(address: str) -> list[int]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return [(await stub.Check(health_pb2.HealthCheckRequest(service=s), timeout=5)).status for s in ("", SERVICE)]


async def test_unreachable_encoders_keep_not_serving_and_retrying_while_recommend_answers(
    tmp_path: Path, artifact: Path
) -> None:
    dead_triton = f"127.0.0.1:{free_port()}"
    settings = _settings(
        tmp_path,
        artifact,
        encoders={"triton_url": dead_triton},
        encoder_warm_up_timeout_s=0.5,
        encoder_warm_up_retry_s=0.1,
    )
    app = await build_app(settings)
    await app.server.start()
    ready = asyncio.create_task(become_ready(app, settings))
    try:
        event = events_pb2.Event(event_id="e1", item_id=app.state.index.ids()[0], timestamp_ms=1_700_000_000_000)
        await asyncio.sleep(1.5)  # several failed attempts
        assert not ready.done()
        assert await _health(app.server.address) == [NOT_SERVING, NOT_SERVING]
        async with grpc.aio.insecure_channel(app.server.address) as channel:
            reply = await ranker_pb2_grpc.RankerStub(channel).Recommend(
                ranker_pb2.RecommendRequest(user_id="u", k=3, recent_events=[event]), timeout=5
            )
        assert len(reply.items) == 3 and reply.history_length == 1
        assert list(reply.degradations) == [ranker_pb2.DEGRADATION_USER_STATE_UNAVAILABLE]
    finally:
        ready.cancel()
        await app.server.stop(grace_s=0)


async def test_serving_only_after_in_process_encoders_embedded_a_text_and_an_image(
    tmp_path: Path, artifact: Path
) -> None:
    settings = _settings(tmp_path, artifact, encoders={"triton_url": None}, encoder_warm_up=True)
    app = await build_app(settings)
    await app.server.start()
    try:
        assert await _health(app.server.address) == [NOT_SERVING, NOT_SERVING]
        assert len(app.encoders.cache) == 0
        await asyncio.wait_for(become_ready(app, settings), timeout=120)
        assert await _health(app.server.address) == [SERVING, SERVING]
        assert len(app.encoders.cache) == 2  # the warm-up text and image were embedded
    finally:
        await app.server.stop(grace_s=0)


async def test_without_warm_up_the_ranker_is_ready_once_model_and_index_are_built(
    tmp_path: Path, artifact: Path
) -> None:
    settings = _settings(tmp_path, artifact, encoders={"triton_url": None}, encoder_warm_up=False)
    app = await build_app(settings)
    await app.server.start()
    try:
        await become_ready(app, settings)
        assert await _health(app.server.address) == [SERVING, SERVING]
        assert len(app.state.index) > 0
    finally:
        await app.server.stop(grace_s=0)
