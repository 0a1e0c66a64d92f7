"""What each store promises beyond the shared contract: SQLite modes, Redis key layout and atomic trimming."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from kairos.service.errors import Unavailable
from tests.support.ports import free_port
from tests.user_state.builders import T0, ev, now_ms
from user_state.events import from_wire
from user_state.settings import UserStateSettings
from user_state.store.base import SequenceFilter
from user_state.store.embedded import DB_FILE, EmbeddedStore
from user_state.store.redis_store import RedisStore, member_wire


@pytest.mark.parametrize(("sync", "level"), [("full", 2), ("normal", 1), ("off", 0)])
async def test_embedded_uses_wal_and_the_configured_sync_level(tmp_path: Path, sync: str, level: int) -> None:
    store = EmbeddedStore(UserStateSettings(data_dir=tmp_path, sync=sync, metrics_port=None))
    await store.start()
    try:
        await store.append([ev("u", "a", T0)])
        conn = store._connect()
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == level
        conn.close()
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute("SELECT user_id, event_id, ts, seq FROM events").fetchall()
    assert rows == [("u", "a", T0, 0)]


async def test_embedded_read_of_cold_users_with_cache_disabled(tmp_path: Path) -> None:
    store = EmbeddedStore(UserStateSettings(data_dir=tmp_path, hot_cache_users=0, metrics_port=None))
    await store.start()
    try:
        await store.append([ev("u", "b", T0 + 1), ev("u", "a", T0)])
        assert store._cache == {}
        [events] = await store.get_sequences(["u"], SequenceFilter())
        assert [e.event_id for e in events] == ["a", "b"]
        assert (await store.append([ev("u", "a", T0)])).duplicates == 1  # dedupe reads the disk too
        assert store.metrics.cache_misses._value.get() == 1
    finally:
        await store.close()


async def test_embedded_ttl_sweep_deletes_from_disk(tmp_path: Path) -> None:
    settings = UserStateSettings(data_dir=tmp_path, ttl_s=0.3, ttl_sweep_interval_s=0.1, metrics_port=None)
    store = EmbeddedStore(settings)
    await store.start()
    try:
        await store.append([ev("u", "a", now_ms()), ev("v", "a", now_ms())])
        await asyncio.sleep(0.8)
        with sqlite3.connect(tmp_path / DB_FILE) as conn:
            assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
            assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
        assert await store.get_sequences(["u"], SequenceFilter()) == [[]]
    finally:
        await store.close()


@pytest.mark.integration
async def test_redis_layout_is_cluster_ready_and_trimmed_atomically(tmp_path: Path, redis_url: str) -> None:
    store = RedisStore(
        UserStateSettings(store="redis", redis_url=redis_url, max_events_per_user=3, ttl_s=60, metrics_port=None)
    )
    await store.start()
    try:
        await store.append([ev("user:1", f"e{i}", T0 + i) for i in range(5)])
        seq_key, ids_key, ctr_key = store.keys("user:1")
        assert seq_key == "kairos:{user:1}:seq"
        assert len({key_slot(k.encode()) for k in (seq_key, ids_key, ctr_key)}) == 1
        client = aioredis.Redis.from_url(redis_url)
        try:
            members = await client.zrange(seq_key, 0, -1, withscores=True)
            assert [score for _m, score in members] == [T0 + 2, T0 + 3, T0 + 4]
            first = members[0][0]
            assert first[:16] == b"0000000000000003" and first[16:20] == b"0002" and first[20:22] == b"e2"
            assert from_wire(member_wire(first)).event_id == "e2"
            assert await client.smembers(ids_key) == {b"e2", b"e3", b"e4"}  # trimmed ids forgotten
            assert int(await client.get(ctr_key)) == 5
            for key in (seq_key, ids_key, ctr_key):
                assert 59_000 < await client.pttl(key) <= 60_000
        finally:
            await client.aclose()
    finally:
        await store.close()


@pytest.mark.integration
async def test_redis_unreachable_is_unavailable(tmp_path: Path) -> None:
    settings = UserStateSettings(
        store="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_socket_timeout_s=0.2, metrics_port=None
    )
    store = RedisStore(settings)
    with pytest.raises(Unavailable, match="redis unreachable"):
        await store.start()
    with pytest.raises(Unavailable, match="redis append failed"):
        await store.append([ev("u", "a", T0)])
    await store.close()
