"""DeleteUser reaches the event log with real processes: an acknowledged deletion survives kill -9 of the
embedded server, and a deletion through a Redis-store replica is compacted into the segment files."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from tests.support.processes import REPO_ROOT
from tests.support.redis_server import RedisServer
from tests.user_state.builders import T0, ev
from tests.user_state.test_event_log_process import start
from user_state.client import UserStateClient
from user_state.event_log import iter_events
from user_state.event_log.segments import iter_records
from user_state.events import Event

pytestmark = pytest.mark.integration


async def test_an_acknowledged_deletion_survives_kill_9_and_training_drops_the_users_earlier_events(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    flags = ["--data-dir", str(data_dir), "--max-events-per-user", "100000"]
    env = {"KAIROS_USER_STATE_EVENT_LOG__SEGMENT_MAX_BYTES": "32768"}  # rotations happen during the run
    proc, address, _ = start(tmp_path, "first", *flags, env=env)
    acknowledged: list[Event] = []
    deleted_after = 0  # how many acknowledged events came before the acknowledged deletion

    async def writer(client: UserStateClient) -> None:
        for n in range(100_000):
            batch = [ev("gone", f"g{n}", T0 + n), ev(f"kept-{n % 3}", f"k{n}", T0 + n)]
            try:
                await client.append_events(batch, timeout_s=5)
            except grpc.aio.AioRpcError:
                return  # the server died: this batch was never acknowledged
            acknowledged.extend(batch)

    async with UserStateClient(address) as client:
        task = asyncio.create_task(writer(client))
        await asyncio.sleep(0.8)
        await client.delete_user("gone", timeout_s=5)
        deleted_after = len(acknowledged)
        await asyncio.sleep(0.3)
        proc.kill9()
        await task
    assert deleted_after >= 20 and len(acknowledged) > deleted_after, "too few appends around the deletion"

    proc, address, _ = start(tmp_path, "second", *flags, env=env)
    assert proc.terminate() == 0, proc.log_text()
    directory = data_dir / "event-log"
    records = list(iter_records(directory))
    deletions = [r for r in records if r.is_deletion]
    assert [(r.event.user_id, r.kind) for r in deletions] == [("gone", "delete_user")]
    cut = deletions[0].lsn
    gone = [r for r in records if r.event.user_id == "gone" and not r.is_deletion]
    assert any(r.lsn < cut for r in gone) and any(r.lsn > cut for r in gone)  # deleted mid-stream
    events = list(iter_events(directory))
    keys = {(e.user_id, e.event_id) for e in events}
    assert {(e.user_id, e.event_id) for e in acknowledged if e.user_id != "gone"} <= keys
    after = {r.event.event_id for r in gone if r.lsn > cut}
    assert {e.event_id for e in events if e.user_id == "gone"} == after
    # every event of "gone" acknowledged before the deletion was acknowledged is out of training
    assert not {e.event_id for e in acknowledged[:deleted_after] if e.user_id == "gone"} & after


async def test_a_deletion_through_a_redis_replica_is_compacted_once_in_stream_order(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis", ["--appendonly", "yes", "--appendfsync", "everysec"]).start()
    out = tmp_path / "compacted"
    flags = ["--store", "redis", "--redis-url", redis_server.url, "--max-events-per-user", "3"]
    replicas = [start(tmp_path, f"replica-{r}", *flags) for r in range(2)]
    compact = ["-m", "user_state.event_log", "compact", "--redis-url", redis_server.url, "--out", str(out), "--once"]
    try:
        async with UserStateClient(replicas[0][1]) as a, UserStateClient(replicas[1][1]) as b:
            await a.append_events([ev("u", f"e{k}", T0 + k) for k in range(5)])  # the store keeps 3 of them
            await b.append_events([ev("v", "x", T0)])
            run = subprocess.run([sys.executable, *compact], cwd=REPO_ROOT, capture_output=True, timeout=60)
            assert run.returncode == 0, run.stderr  # a first segment, before the deletion
            assert await b.delete_user("u") == 3
            await a.append_events([ev("u", "back", T0 + 9), ev("u", "e0", T0)])
        run = subprocess.run([sys.executable, *compact], cwd=REPO_ROOT, capture_output=True, timeout=60)
        assert run.returncode == 0, run.stderr
    finally:
        for proc, _, _ in replicas:
            assert proc.terminate() == 0, proc.log_text()
        redis_server.stop()
    records = list(iter_records(out))
    assert [(r.kind, r.event.user_id, r.event.event_id) for r in records] == [
        *[("event", "u", f"e{k}") for k in range(5)],
        ("event", "v", "x"),
        ("delete_user", "u", ""),
        ("event", "u", "back"),
        ("event", "u", "e0"),
    ]
    assert [r.lsn for r in records] == list(range(1, 10))
    assert [(e.user_id, e.event_id) for e in iter_events(out)] == [("v", "x"), ("u", "back"), ("u", "e0")]
