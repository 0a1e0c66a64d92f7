"""Faults injected around real ranker processes: Triton killed under UpsertItems load, a replica SIGTERMed
behind client-side round robin, and a slow user-state service (a real delaying TCP proxy)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest

from encoders.triton.launcher import LocalTriton
from encoders.triton.settings import LauncherSettings
from kairos.v1 import events_pb2, ranker_pb2, ranker_pb2_grpc, user_state_pb2, user_state_pb2_grpc
from tests.reliability.hostile_images import control_jpeg
from tests.reliability.servers import Served, start_ranker, start_user_state
from tests.reliability.tcp_proxy import DelayingProxy
from tests.support.ports import free_port
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
USER = "faulty-user"
HISTORY = [events_pb2.Event(event_id=f"h{n}", user_id=USER, item_id=str(n), timestamp_ms=T0 + n) for n in range(1, 6)]
RECENT = [events_pb2.Event(event_id=f"r{n}", item_id=str(n), timestamp_ms=T0 + n) for n in range(1, 4)]


@pytest.fixture(scope="module")
def user_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_user_state(tmp_path_factory.mktemp("faults-user-state"), "--sync", "off")
    with served.channel() as channel:
        user_state_pb2_grpc.UserStateStub(channel).AppendEvents(
            user_state_pb2.AppendEventsRequest(events=HISTORY), timeout=10
        )
    yield served
    assert served.stop() == 0


async def _until(predicate, timeout_s: float, what: str) -> None:
    """Like wait_until, but yields to the event loop (the load keeps running while we wait)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.1f}s waiting for {what}")
        await asyncio.sleep(0.05)


def catalogue_presence(stub: ranker_pb2_grpc.RankerStub, item_ids: list[str]) -> tuple[set[str], set[str]]:
    """(present, absent) among `item_ids`, asking Recommend to rank exactly these candidates."""
    present: set[str] = set()
    absent: set[str] = set()
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        reply = stub.Recommend(
            ranker_pb2.RecommendRequest(user_id="checker", k=len(chunk), candidate_ids=chunk, recent_events=RECENT),
            timeout=30,
        )
        absent |= set(reply.unknown_candidate_ids)
        present |= {i.item_id for i in reply.items}
    assert present | absent == set(item_ids) and not present & absent
    return present, absent


def _kill_triton(triton: LocalTriton) -> None:
    """SIGKILL tritonserver and its python-backend stubs (its own process group) with no warning."""
    process = next(
        p for p in psutil.process_iter(["cmdline"]) if f"--grpc-port={triton.grpc_port}" in (p.info["cmdline"] or [])
    )
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


async def test_triton_killed_during_upsert_load(tmp_path: Path, artifact: Path, user_state: Served) -> None:
    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    try:
        triton = LocalTriton(LauncherSettings(**ports)).start()
    except Exception as exc:
        pytest.skip(f"local Triton unavailable: {exc}")
    env = {"KAIROS_RANKER_ENCODERS__TIMEOUT_S": "5", "KAIROS_RANKER_ENCODERS__BREAKER_RESET_S": "1"}
    ranker = start_ranker(tmp_path, artifact, user_state.address, "--triton", triton.grpc_url, env=env)
    ids = itertools.count()
    ok_items: list[str] = []
    failed_items: list[str] = []
    failures: Counter[str] = Counter()
    failure_latency: list[float] = []
    stop = asyncio.Event()
    image = control_jpeg()

    async def upserter(stub: ranker_pb2_grpc.RankerStub) -> None:
        while not stop.is_set():
            batch = [f"t-{next(ids)}" for _ in range(4)]
            items = [ranker_pb2.Item(item_id=i, text=f"film {i}", image=image) for i in batch]
            started = time.monotonic()
            try:
                reply = await stub.UpsertItems(ranker_pb2.UpsertItemsRequest(items=items), timeout=20)
            except grpc.aio.AioRpcError as exc:
                failures[exc.code().name] += 1
                failure_latency.append(time.monotonic() - started)
                failed_items.extend(batch)
                await asyncio.sleep(0.05)
                continue
            assert all(r.ok for r in reply.results), reply
            ok_items.extend(batch)

    try:
        async with grpc.aio.insecure_channel(ranker.address) as channel:
            stub = ranker_pb2_grpc.RankerStub(channel)
            workers = [asyncio.create_task(upserter(stub)) for _ in range(3)]
            await asyncio.sleep(2.0)
            ok_before_kill = len(ok_items)
            _kill_triton(triton)
            await asyncio.sleep(2.0)
            assert await asyncio.to_thread(ranker.healthy)
            await asyncio.to_thread(triton.stop)
            restarted = await asyncio.to_thread(LocalTriton(LauncherSettings(**ports)).start)
            recovered_from = len(ok_items)
            await _until(lambda: len(ok_items) >= recovered_from + 12, 60, "upserts succeeding again after restart")
            stop.set()
            await asyncio.gather(*workers)
        with ranker.channel() as sync_channel:
            present, absent = catalogue_presence(ranker_pb2_grpc.RankerStub(sync_channel), ok_items + failed_items)
    finally:
        stop.set()
        ranker.stop()
        triton.stop()
        if "restarted" in locals():
            restarted.stop()
    print(
        f"\ntriton kill: {len(ok_items)} items acknowledged ({ok_before_kill} before the kill), {len(failed_items)} "
        f"refused, failures {dict(failures)}, slowest failure {max(failure_latency):.2f}s"
    )
    assert ok_before_kill >= 8, "too little load before the kill"
    assert set(failures) == {"UNAVAILABLE"}, failures
    assert max(failure_latency) < 6.0, "a client waited longer than the encoder budget"
    assert sorted(failure_latency)[len(failure_latency) // 2] < 1.5, "UNAVAILABLE is not quick once the circuit opens"
    assert set(ok_items) <= present, f"acknowledged items missing: {sorted(set(ok_items) - present)[:5]}"
    assert set(failed_items) <= absent, f"refused items half-indexed: {sorted(set(failed_items) - absent)[:5]}"


ROUND_ROBIN_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": "kairos.v1.Ranker"},
    "methodConfig": [
        {
            "name": [{"service": "kairos.v1.Ranker"}],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.05s",
                "maxBackoff": "0.5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}


def _recommend_ok_count(ranker: Served) -> float:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{ranker.metrics_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "kairos_rpc_total" and s.labels.get("method") == "Recommend" and s.labels.get("code") == "OK"
    )


async def test_sigterm_one_of_two_rankers_under_round_robin_load(
    tmp_path: Path, artifact: Path, user_state: Served
) -> None:
    env = {"KAIROS_RANKER_SHUTDOWN_DELAY_S": "1.5", "KAIROS_RANKER_GRACE_PERIOD_S": "5"}
    first = start_ranker(tmp_path, artifact, user_state.address, name="first", env=env)
    second = start_ranker(tmp_path, artifact, user_state.address, name="second", env=env)
    outcomes: Counter[str] = Counter()
    stop = asyncio.Event()

    async def caller(stub: ranker_pb2_grpc.RankerStub) -> None:
        while not stop.is_set():
            try:
                reply = await stub.Recommend(ranker_pb2.RecommendRequest(user_id=USER, k=10), timeout=5)
                outcomes["OK" if len(reply.items) == 10 else "SHORT"] += 1
            except grpc.aio.AioRpcError as exc:
                outcomes[exc.code().name] += 1

    target = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
    options = [("grpc.service_config", json.dumps(ROUND_ROBIN_CONFIG)), ("grpc.enable_retries", 1)]
    try:
        async with grpc.aio.insecure_channel(target, options=options) as channel:
            stub = ranker_pb2_grpc.RankerStub(channel)
            callers = [asyncio.create_task(caller(stub)) for _ in range(8)]
            await asyncio.sleep(2.0)
            before = sum(outcomes.values())
            first_served_before = _recommend_ok_count(first)
            code = await asyncio.to_thread(first.stop)
            during = sum(outcomes.values()) - before
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*callers)
    finally:
        stop.set()
        second.stop()
    print(f"\nSIGTERM under round robin: {dict(outcomes)}; {during} calls completed while the first ranker drained")
    assert code == 0, first.proc.log_text()[-3000:]
    assert first_served_before > 0 and before > first_served_before, "round robin did not use both rankers"
    assert during > 0, "no call completed during the drain: nothing was tested"
    assert set(outcomes) == {"OK"}, f"failed requests while a ranker drained: {dict(outcomes)}"


async def test_slow_user_state_recommend_degrades_within_deadline_and_cancels(
    tmp_path: Path, artifact: Path, user_state: Served
) -> None:
    host, port = user_state.address.split(":")
    proxy = DelayingProxy(host, int(port)).start()
    env = {"KAIROS_RANKER_USER_STATE__TIMEOUT_S": "0.25", "KAIROS_RANKER_COMPUTE_RESERVE_MS": "100"}
    ranker = start_ranker(tmp_path, artifact, proxy.address, env=env)
    deadline_s = 0.8
    try:
        with ranker.channel() as channel:
            stub = ranker_pb2_grpc.RankerStub(channel)
            request = ranker_pb2.RecommendRequest(user_id=USER, k=10)
            healthy = stub.Recommend(request, timeout=10)
            assert list(healthy.degradations) == [] and healthy.history_length == len(HISTORY)

            proxy.delay_s = 3.0
            slow_phase = time.monotonic()
            latencies = []
            for _ in range(8):
                started = time.monotonic()
                reply = stub.Recommend(request, timeout=deadline_s)
                latencies.append(time.monotonic() - started)
                assert ranker_pb2.DEGRADATION_USER_STATE_UNAVAILABLE in reply.degradations, reply
                assert 1 <= len(reply.items) <= 10  # popularity fallback, flagged
            wait_until(
                lambda: all(s in proxy.streams.reset for s, t in proxy.streams.opened.items() if t >= slow_phase),
                5,
                "the ranker to cancel its user-state calls",
            )
            slow_streams = {s: t for s, t in proxy.streams.opened.items() if t >= slow_phase}
            cancel_after = [proxy.streams.reset[s] - t for s, t in slow_streams.items()]

            # A tight caller deadline: the remaining budget (0.3 s - 0.1 s reserve) is what user-state gets.
            tight_phase = time.monotonic()
            tight_codes = Counter()
            for _ in range(4):
                try:
                    reply = stub.Recommend(request, timeout=0.3)
                    assert ranker_pb2.DEGRADATION_USER_STATE_UNAVAILABLE in reply.degradations, reply
                    tight_codes["OK"] += 1
                except grpc.RpcError as exc:
                    tight_codes[exc.code().name] += 1
            wait_until(
                lambda: all(s in proxy.streams.reset for s, t in proxy.streams.opened.items() if t >= tight_phase),
                5,
                "the ranker to cancel its user-state calls under a tight deadline",
            )
            tight_cancel = [proxy.streams.reset[s] - t for s, t in proxy.streams.opened.items() if t >= tight_phase]

            proxy.delay_s = 0.0
            await asyncio.sleep(3.5)  # let the delayed replies drain
            recovered = stub.Recommend(request, timeout=10)
    finally:
        ranker.stop()
        proxy.stop()
    print(
        f"\nslow user-state: Recommend latencies {[round(x, 3) for x in latencies]} s (deadline {deadline_s}s); "
        f"{len(slow_streams)} GetSequences streams, each cancelled after {[round(x, 3) for x in cancel_after]} s"
    )
    print(
        f"tight deadline 0.3s: {dict(tight_codes)}; downstream cancelled after {[round(x, 3) for x in tight_cancel]} s"
    )
    assert max(latencies) < deadline_s
    assert len(slow_streams) >= 1
    assert max(cancel_after) < 0.5, "the downstream call outlived its budget"
    assert set(tight_codes) <= {"OK", "DEADLINE_EXCEEDED"}, tight_codes
    assert tight_cancel and max(tight_cancel) < 0.3, "the caller's remaining budget was not passed downstream"
    assert list(recovered.degradations) == [] and recovered.history_length == len(HISTORY)
