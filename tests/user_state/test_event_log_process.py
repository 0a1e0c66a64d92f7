"""The event log with real processes: kill -9 of the server mid-stream, replicas sharing one Redis stream,
a compactor killed and restarted, and bad settings at start-up."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT, ServerProcess, grpc_serving, wait_until
from tests.support.redis_server import RedisServer
from tests.user_state.builders import T0, ev
from user_state.client import UserStateClient
from user_state.event_log import iter_events
from user_state.event_log.segments import iter_records, list_segments
from user_state.events import Event

pytestmark = pytest.mark.integration


def start(tmp_path: Path, name: str, *extra: str, env: dict[str, str] | None = None) -> tuple[ServerProcess, str, int]:
    port, metrics_port = free_port(), free_port()
    args = ["-m", "user_state", "serve", "--port", str(port), "--metrics-port", str(metrics_port), *extra]
    proc = ServerProcess(args, tmp_path / f"{name}.log", env=env).start()
    address = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: grpc_serving(address) or not proc.alive(), 30, f"user_state {name}")
    except TimeoutError:
        proc.kill9()
        raise
    assert proc.alive(), proc.log_text()
    return proc, address, metrics_port


def log_appended(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "kairos_user_state_event_log_appended_total"
    )


def batch_of(writer: int, n: int) -> list[Event]:
    return [ev(f"user-{writer}-{n % 3}", f"w{writer}-{n}-{k}", T0 + n * 10 + k) for k in range(5)]


async def test_every_acknowledged_event_is_in_the_log_after_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    flags = ["--data-dir", str(data_dir), "--max-events-per-user", "100000"]
    env = {"KAIROS_USER_STATE_EVENT_LOG__SEGMENT_MAX_BYTES": "32768"}  # rotations happen during the run
    proc, address, _ = start(tmp_path, "first", *flags, env=env)
    acknowledged: dict[int, list[int]] = {w: [] for w in range(4)}
    attempted: dict[int, int] = {}

    async def writer(worker: int, client: UserStateClient) -> None:
        for n in range(100_000):
            attempted[worker] = n
            try:
                await client.append_events(batch_of(worker, n), timeout_s=5)
            except grpc.aio.AioRpcError:
                return  # the server died: this batch was never acknowledged
            acknowledged[worker].append(n)

    async with UserStateClient(address) as client:
        writers = [asyncio.create_task(writer(w, client)) for w in range(4)]
        await asyncio.sleep(1.5)
        proc.kill9()
        await asyncio.gather(*writers)
    acked = [e for w, ns in acknowledged.items() for n in ns for e in batch_of(w, n)]
    assert len(acked) >= 200, "too few appends before the kill to test anything"

    # A write torn by the crash (as after a power loss): a half-written frame at the end of the WAL, whose
    # checksum fails, is ignored by SQLite at the restart (store and log share that WAL).
    wal = data_dir / "events.sqlite3-wal"
    assert wal.is_file()
    with wal.open("ab") as f:
        f.write(bytes(range(256)) * 9)

    proc, address, metrics_port = start(tmp_path, "second", *flags, env=env)
    try:
        async with UserStateClient(address, default_timeout_s=10) as client:
            # Clients retry everything, acknowledged or not: retries add nothing, the unacknowledged land once.
            for w in range(4):
                for n in range(attempted[w] + 1):
                    await client.append_events(batch_of(w, n))
        assert log_appended(metrics_port) <= 4 * 5 * (max(attempted.values()) + 1)
    finally:
        assert proc.terminate() == 0, proc.log_text()

    events = list(iter_events(data_dir / "event-log"))
    keys = [(e.user_id, e.event_id) for e in events]
    assert len(keys) == len(set(keys))
    missing = [e.event_id for e in acked if (e.user_id, e.event_id) not in set(keys)]
    assert missing == [], f"{len(missing)} of {len(acked)} acknowledged events missing from the log"
    sent = {(e.user_id, e.event_id) for w in range(4) for n in range(attempted[w] + 1) for e in batch_of(w, n)}
    assert set(keys) == sent
    for w in range(4):  # each writer's events are in the log in the order they were sent
        mine = [e.event_id for e in events if e.event_id.startswith(f"w{w}-")]
        assert mine == [e.event_id for n in range(attempted[w] + 1) for e in batch_of(w, n)]
    # Store and log commit as one unit: not even the batches in flight at the kill are there twice.
    physical = Counter((r.event.user_id, r.event.event_id) for r in iter_records(data_dir / "event-log"))
    assert max(physical.values()) == 1
    assert len(list_segments(data_dir / "event-log")) >= 2  # rotations happened, before and after the kill


async def test_replicas_share_one_stream_and_the_compactor_writes_each_event_once(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis", ["--appendonly", "yes", "--appendfsync", "everysec"]).start()
    out = tmp_path / "compacted"
    flags = ["--store", "redis", "--redis-url", redis_server.url, "--max-events-per-user", "100000"]
    replicas = [start(tmp_path, f"replica-{r}", *flags) for r in range(2)]
    compact = ["-m", "user_state.event_log", "compact", "--redis-url", redis_server.url, "--out", str(out)]
    compactor = ServerProcess([*compact, "--segment-max-events", "100", "--segment-max-age-s", "0.1"],
                              tmp_path / "compactor.log").start()  # fmt: skip
    sent: dict[int, list[Event]] = {}
    try:
        async with UserStateClient(replicas[0][1]) as a, UserStateClient(replicas[1][1]) as b:

            async def writer(worker: int, batches: range) -> None:
                mine = sent.setdefault(worker, [])
                for n in batches:
                    batch = batch_of(worker, n)
                    if n % 4 == 0:  # the same batch through both replicas at once (a retry elsewhere)
                        await asyncio.gather(a.append_events(batch), b.append_events(batch))
                    else:
                        await (a if worker % 2 else b).append_events(batch)
                    mine += batch

            await asyncio.gather(*(writer(w, range(30)) for w in range(4)))
            await asyncio.to_thread(wait_until, lambda: list_segments(out) != [], 30, "a compacted segment")
            second_half = asyncio.gather(*(writer(w, range(30, 60)) for w in range(4)))
            await asyncio.sleep(0.15)
            compactor.kill9()  # mid-stream: entries delivered to it but not yet in a segment are re-read
            await second_half
        appended = sum(log_appended(metrics_port) for _, _, metrics_port in replicas)
        assert appended == sum(len(batch) for batch in sent.values())
        run = subprocess.run(
            [sys.executable, *compact, "--once"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
    finally:
        compactor.kill9()
        for proc, _, _ in replicas:
            assert proc.terminate() == 0, proc.log_text()
        redis_server.stop()

    records = list(iter_records(out))  # no reader-side dedupe: physically once
    keys = [(r.event.user_id, r.event.event_id) for r in records]
    assert len(keys) == len(set(keys))
    assert set(keys) == {(e.user_id, e.event_id) for batch in sent.values() for e in batch}
    assert [r.lsn for r in records] == list(range(1, len(records) + 1))
    for w, events in sent.items():  # order per writer
        assert [r.event.event_id for r in records if r.event.event_id.startswith(f"w{w}-")] == [
            e.event_id for e in events
        ]
    assert len(list_segments(out)) >= 2


def test_bad_event_log_settings_exit_2_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("event_log:\n  segment_max_bytes: 12\n")
    run = subprocess.run(
        [sys.executable, "-m", "user_state", "serve", "--config", str(config), "--port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "event_log.segment_max_bytes" in run.stderr
