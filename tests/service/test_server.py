"""KairosServer plumbing over real gRPC on loopback: health, reflection, metrics, errors, limits, drain."""

from __future__ import annotations

import asyncio
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from prometheus_client.parser import text_string_to_metric_families

from kairos.v1 import events_pb2, user_state_pb2, user_state_pb2_grpc
from tests.service.conftest import SERVICE

pytestmark = pytest.mark.integration


def slow_get(ms: int, user: str = "u") -> user_state_pb2.GetSequenceRequest:
    return user_state_pb2.GetSequenceRequest(user_id=user, filter=user_state_pb2.SequenceFilter(limit=ms))


async def test_health_reports_serving_for_server_and_service(make_server) -> None:
    server, _ = await make_server()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=2)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_and_describes_services(make_server) -> None:
    server, _ = await make_server()

    def reflect() -> tuple[list[str], list[str]]:
        with grpc.insecure_channel(server.address) as channel:
            db = ProtoReflectionDescriptorDatabase(channel)
            services = db.get_services()
            desc = db.FindFileContainingSymbol(SERVICE)
            return list(services), [m.name for m in desc.service[0].method]

    services, methods = await asyncio.to_thread(reflect)
    assert {SERVICE, "grpc.health.v1.Health"} <= set(services)
    assert methods == ["AppendEvents", "GetSequence", "GetSequences", "DeleteUser"]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


async def test_metrics_count_calls_by_code_and_time_them(make_server) -> None:
    server, _ = await make_server()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = user_state_pb2_grpc.UserStateStub(channel)
        for _ in range(3):
            await stub.GetSequence(slow_get(0), timeout=2)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.AppendEvents(user_state_pb2.AppendEventsRequest(), timeout=2)
    samples = await asyncio.to_thread(scrape, server.metrics_port)
    labels = lambda method, **extra: tuple(sorted({"service": SERVICE, "method": method, **extra}.items()))  # noqa: E731
    assert samples[("kairos_rpc_total", labels("GetSequence", code="OK"))] == 3
    assert samples[("kairos_rpc_total", labels("AppendEvents", code="INVALID_ARGUMENT"))] == 1
    assert samples[("kairos_rpc_latency_seconds_count", labels("GetSequence"))] == 3
    assert samples[("kairos_rpc_in_flight", labels("GetSequence"))] == 0


async def test_invalid_argument_names_the_field_and_crashes_hide_details(make_server) -> None:
    server, _ = await make_server()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = user_state_pb2_grpc.UserStateStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.AppendEvents(user_state_pb2.AppendEventsRequest(), timeout=2)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad.value.details() == "events: at least one event is required"
        with pytest.raises(grpc.aio.AioRpcError) as crash:
            await stub.DeleteUser(user_state_pb2.DeleteUserRequest(user_id="u"), timeout=2)
        assert crash.value.code() == grpc.StatusCode.INTERNAL
        assert "secret" not in crash.value.details()
        ok = await stub.AppendEvents(
            user_state_pb2.AppendEventsRequest(events=[events_pb2.Event(event_id="e", user_id="u")]), timeout=2
        )
        assert ok.appended == 1


async def test_beyond_concurrency_limit_fails_fast_and_health_still_answers(make_server) -> None:
    server, servicer = await make_server(max_concurrent_rpcs=2)
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = user_state_pb2_grpc.UserStateStub(channel)
        slow = [asyncio.ensure_future(stub.GetSequence(slow_get(600), timeout=5)) for _ in range(2)]
        await asyncio.sleep(0.2)
        start = time.perf_counter()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetSequence(slow_get(0), timeout=5)
        rejected_in = time.perf_counter() - start
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert rejected_in < 0.15, f"rejection took {rejected_in:.3f}s: must not queue"
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert [r.sequence.user_id for r in await asyncio.gather(*slow)] == ["u", "u"]
        await stub.GetSequence(slow_get(0), timeout=2)
    assert servicer.completed == 3


async def test_graceful_stop_drains_in_flight_then_refuses(make_server) -> None:
    server, servicer = await make_server(shutdown_delay_s=0.3)
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = user_state_pb2_grpc.UserStateStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        in_flight = asyncio.ensure_future(stub.GetSequence(slow_get(700, "drained"), timeout=5))
        await asyncio.sleep(0.1)
        stopping = asyncio.ensure_future(server.stop(grace_s=5))
        await asyncio.sleep(0.05)
        # During the shutdown delay: NOT_SERVING is reported, yet calls are still answered.
        status = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=2)
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert (await stub.GetSequence(slow_get(0, "late"), timeout=2)).sequence.user_id == "late"
        await asyncio.sleep(0.35)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetSequence(slow_get(0), timeout=2, wait_for_ready=False)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert (await in_flight).sequence.user_id == "drained"
        await stopping
    assert servicer.completed == 2


async def test_undecodable_requests_are_invalid_argument_naming_the_field(make_server) -> None:
    server, servicer = await make_server()
    async with grpc.aio.insecure_channel(server.address) as channel:
        raw = channel.unary_unary(f"/{SERVICE}/GetSequence")
        # GetSequenceRequest.user_id (field 1, length-delimited) holding invalid UTF-8.
        with pytest.raises(grpc.aio.AioRpcError) as bad_utf8:
            await raw(b"\x0a\x02\xff\xfe", timeout=2)
        assert bad_utf8.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_utf8.value.details() == "user_id: is not valid UTF-8"
        with pytest.raises(grpc.aio.AioRpcError) as truncated:
            await raw(b"\x0a\x10abc", timeout=2)
        assert truncated.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "malformed protobuf" in truncated.value.details()
    assert servicer.completed == 0


async def test_a_server_can_stay_not_serving_until_marked_ready(make_server) -> None:
    server, _ = await make_server(serving_on_start=False)
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        async def statuses() -> list[int]:
            return [
                (await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)).status
                for name in ("", SERVICE)
            ]

        not_serving, serving = health_pb2.HealthCheckResponse.NOT_SERVING, health_pb2.HealthCheckResponse.SERVING
        assert await statuses() == [not_serving, not_serving]
        reply = await user_state_pb2_grpc.UserStateStub(channel).GetSequence(slow_get(0), timeout=2)
        assert reply.sequence.user_id == "u", "not ready is not the same as refusing calls"
        await server.mark_serving()
        assert await statuses() == [serving, serving]
        await server.health.enter_graceful_shutdown()
        await server.mark_serving()
        assert await statuses() == [not_serving, not_serving], "a graceful stop wins over a late readiness report"


async def test_readiness_reported_before_start_is_kept() -> None:
    from kairos.service.server import KairosServer
    from kairos.service.settings import ServiceSettings

    server = KairosServer(ServiceSettings.load(port=0, metrics_port=None), [], serving_on_start=False)
    await server.mark_serving()  # e.g. a warm-up task that finished before the server bound its port
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(grace_s=0)


async def test_serving_freezes_the_start_up_heap_unless_disabled(make_server) -> None:
    import gc

    gc.unfreeze()
    try:
        await make_server(gc_freeze=False)
        assert gc.get_freeze_count() == 0
        startup_object: list[list[str]] = [["allocated before serving"]]  # a container the collector tracks
        server, _ = await make_server(serving_on_start=False)
        assert gc.get_freeze_count() == 0, "nothing is frozen before the service is ready"
        await server.mark_serving()
        frozen = gc.get_freeze_count()
        assert frozen > 0 and gc.is_tracked(startup_object)
        assert all(o is not startup_object for o in gc.get_objects()), "frozen: out of the collector's generations"
    finally:
        gc.unfreeze()
