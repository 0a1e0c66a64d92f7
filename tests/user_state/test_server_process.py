"""The real server process (`python -m user_state serve`) driven by the real client over loopback gRPC."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from prometheus_client.parser import text_string_to_metric_families

from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT, ServerProcess, grpc_serving, wait_until
from tests.support.redis_server import RedisServer
from tests.user_state.builders import T0, ev, ids
from user_state.client import UserStateClient

pytestmark = pytest.mark.integration

SERVICE = "kairos.v1.UserState"


@dataclass
class Served:
    proc: ServerProcess
    address: str
    metrics_port: int


def start_server(tmp_path: Path, *extra: str, name: str = "server") -> Served:
    port, metrics_port = free_port(), free_port()
    args = ["-m", "user_state", "serve", "--port", str(port), "--metrics-port", str(metrics_port), *extra]
    proc = ServerProcess(args, tmp_path / f"{name}.log").start()
    address = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: grpc_serving(address) or not proc.alive(), 30, f"user_state server at {address}")
    except TimeoutError:
        proc.kill9()
        raise
    assert proc.alive(), proc.log_text()
    return Served(proc, address, metrics_port)


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[Served]:
    served = start_server(tmp_path, "--store", "embedded", "--data-dir", str(tmp_path / "data"), "--sync", "full")
    yield served
    code = served.proc.terminate()
    assert code == 0, served.proc.log_text()
    assert '"message": "stopped"' in served.proc.log_text()  # JSON logs, graceful shutdown completed


def scrape(metrics_port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics and index every sample by (name, sorted labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def rpc_total(samples: dict, method: str, code: str) -> float:
    labels = (("code", code), ("method", method), ("service", SERVICE))
    return samples.get(("kairos_rpc_total", labels), 0.0)


async def test_client_round_trip_errors_and_metrics(embedded_server: Served) -> None:
    async with UserStateClient(embedded_server.address, default_timeout_s=5) as client:
        assert await client.append_events([ev("u", "b", T0 + 2, domain="books"), ev("u", "a", T0 + 1)]) == (2, 0)
        assert await client.append_events([ev("u", "a", T0 + 1), ev("v", "a", T0)]) == (1, 1)
        events = await client.get_sequence("u")
        assert events == [ev("u", "a", T0 + 1), ev("u", "b", T0 + 2, domain="books")]
        assert ids(await client.get_sequence("u", domain="books")) == ["b"]
        assert ids(await client.get_sequence("u", limit=1)) == ["b"]
        sequences = await client.get_sequences(["v", "nobody", "u"], since_ms=T0 + 1)
        assert [ids(s) for s in sequences] == [[], [], ["a", "b"]]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.append_events([ev("u", "c", T0), ev("u", "d", 1_700_000_000)])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith("events[1].timestamp_ms: ")
        assert "milliseconds" in err.value.details()
        assert ids(await client.get_sequence("u")) == ["a", "b"]  # nothing of the bad batch was written
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.get_sequences([])
        assert (err.value.code(), err.value.details()) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "user_ids: must hold at least one user id",
        )
        assert await client.delete_user("u") == 2
        assert await client.get_sequence("u") == []

    samples = scrape(embedded_server.metrics_port)
    assert rpc_total(samples, "AppendEvents", "OK") == 2
    assert rpc_total(samples, "AppendEvents", "INVALID_ARGUMENT") == 1
    assert rpc_total(samples, "GetSequence", "OK") == 5
    assert rpc_total(samples, "GetSequences", "OK") == 1
    assert rpc_total(samples, "GetSequences", "INVALID_ARGUMENT") == 1
    assert rpc_total(samples, "DeleteUser", "OK") == 1
    appended = ("kairos_user_state_events_appended_total", (("store", "embedded"),))
    assert samples[appended] == 3
    assert samples[("kairos_user_state_events_duplicate_total", (("store", "embedded"),))] == 1
    latency_count = ("kairos_rpc_latency_seconds_count", (("method", "GetSequence"), ("service", SERVICE)))
    assert samples[latency_count] == 5


def test_health_and_reflection(embedded_server: Served) -> None:
    with grpc.insecure_channel(embedded_server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as err:
            health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services
        descriptor = DescriptorPool(database).FindServiceByName(SERVICE)
        methods = {m.name: m.output_type.full_name for m in descriptor.methods}
        assert methods == {
            "AppendEvents": "kairos.v1.AppendEventsResponse",
            "GetSequence": "kairos.v1.GetSequenceResponse",
            "GetSequences": "kairos.v1.GetSequencesResponse",
            "DeleteUser": "kairos.v1.DeleteUserResponse",
        }


async def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    # A cap above everything written: events committed but not yet acknowledged at the kill must not push
    # acknowledged ones out.
    keep_all = ["--data-dir", data_dir, "--sync", "full", "--max-events-per-user", "100000"]
    served = start_server(tmp_path, *keep_all, name="first")
    acknowledged: list[str] = []

    async def writer(worker: int, client: UserStateClient) -> None:
        for n in range(10_000):
            batch = [ev(f"user-{worker}-{n % 3}", f"w{worker}-{n}-{k}", T0 + n * 10 + k) for k in range(5)]
            try:
                await client.append_events(batch, timeout_s=5)
            except grpc.aio.AioRpcError:
                return  # the server died under us: this batch was never acknowledged
            acknowledged.extend(e.event_id for e in batch)

    async with UserStateClient(served.address) as client:
        writers = [asyncio.create_task(writer(w, client)) for w in range(4)]
        await asyncio.sleep(1.0)
        served.proc.kill9()
        await asyncio.gather(*writers)
    assert len(acknowledged) >= 100, "too few appends before the kill to test anything"

    restarted = start_server(tmp_path, *keep_all, name="second")
    try:
        users = [f"user-{w}-{u}" for w in range(4) for u in range(3)]
        async with UserStateClient(restarted.address, default_timeout_s=10) as client:
            stored = {e.event_id for seq in await client.get_sequences(users) for e in seq}
        missing = [e for e in acknowledged if e not in stored]
        assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged events lost, e.g. {missing[:5]}"
    finally:
        assert restarted.proc.terminate() == 0


def test_invalid_settings_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "user_state", "serve", "--max-events-per-user", "0", "--port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "invalid settings" in run.stderr
    assert "max_events_per_user" in run.stderr
    config = tmp_path / "bad.yaml"
    config.write_text("stor: redis\n")
    run = subprocess.run(
        [sys.executable, "-m", "user_state", "serve", "--config", str(config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "stor" in run.stderr


async def test_redis_backed_server_and_redis_outage(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis", ["--appendonly", "yes", "--appendfsync", "always"]).start()
    served = start_server(tmp_path, "--store", "redis", "--redis-url", redis_server.url, name="redis-backed")
    try:
        async with UserStateClient(served.address, default_timeout_s=5) as client:
            assert await client.append_events([ev("u", "b", T0 + 2), ev("u", "a", T0 + 1)]) == (2, 0)
            assert ids(await client.get_sequence("u")) == ["a", "b"]
            # Redis restarts with its append-only file: the events are still there.
            redis_server.stop()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await client.get_sequences(["u"])
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            redis_server.start()
            assert ids((await client.get_sequences(["u"]))[0]) == ["a", "b"]
    finally:
        assert served.proc.terminate() == 0
        redis_server.stop()


def test_unreachable_redis_at_start_up_exits_3() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    run = subprocess.run(
        [sys.executable, "-m", "user_state", "serve", "--store", "redis", "--redis-url", url, "--port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 3, run.stderr
    assert "start-up failed" in run.stderr and "redis unreachable" in run.stderr
