"""The event log in-process: exactly once per event id, order, crash recovery, rotation, retention, failures, config.

Both stores (embedded with the segments log, Redis with the stream log read back through the compactor) run
against real files and a real redis-server.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from kairos.service.errors import Unavailable
from tests.user_state.builders import T0, ev
from tests.user_state.conftest import MakeStore
from user_state.event_log import iter_events
from user_state.event_log.compactor import Compactor
from user_state.event_log.metrics import EventLogMetrics
from user_state.event_log.records import parquet_meta, write_parquet
from user_state.event_log.segments import SegmentLog, iter_records, list_segments
from user_state.event_log.settings import EventLogSettings
from user_state.events import Event, UserDeletion
from user_state.settings import UserStateSettings
from user_state.store.base import EventStore, SequenceFilter
from user_state.store.embedded import EmbeddedStore


def logged(store: EventStore, tmp_path: Path) -> list[Event]:
    """Every record the store's log holds, duplicates included (Redis: compacted into segment files first)."""
    if isinstance(store, EmbeddedStore):
        return [r.event for r in iter_records(tmp_path / "user_state" / "event-log")]
    out = tmp_path / "compacted"
    compactor = Compactor(store._url, out)  # type: ignore[attr-defined]
    compactor.run(once=True)
    compactor.close()
    return [r.event for r in iter_records(out)]


def keys(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.user_id, e.event_id) for e in events]


async def test_each_accepted_event_is_logged_once_in_order(make_store: MakeStore, tmp_path: Path) -> None:
    store = await make_store(max_events_per_user=3)
    first = [ev("u", "a", T0), ev("u", "b", T0 + 1), ev("v", "a", T0)]
    assert (await store.append(first)).appended == 3
    assert (await store.append(first)).duplicates == 3  # a retried batch adds nothing to the log
    # in-batch repeat, a late event, an event older than everything the full user keeps (accepted, then dropped)
    second = [ev("u", "c", T0 + 5), ev("u", "c", T0 + 5), ev("u", "late", T0 - 1), ev("w", "x", T0)]
    result = await store.append(second)
    assert (result.appended, result.duplicates) == (3, 1)
    await store.append([ev("u", "a", T0), ev("u", "d", T0 + 9)])  # one retry, one new
    expected = [*keys(first), ("u", "c"), ("u", "late"), ("w", "x"), ("u", "d")]
    assert keys(logged(store, tmp_path)) == expected
    assert [e for e in logged(store, tmp_path) if e.event_id == "late"] == [ev("u", "late", T0 - 1)]


class Writer:
    """The embedded store's writer in miniature: one connection, each batch in its own transaction."""

    def __init__(self, directory: Path, **settings: Any) -> None:
        self.db = directory.parent / "events.sqlite3"
        self.conn = sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.log = SegmentLog(directory, self.db, EventLogSettings(**settings), EventLogMetrics())
        self.log.open(self.conn)

    def write(self, batches: int, per_batch: int = 10, prefix: str = "e") -> list[Event]:
        sent = []
        for b in range(batches):
            batch = [ev(f"user-{k % 3}", f"{prefix}{b}-{k}", T0 + b * per_batch + k) for k in range(per_batch)]
            self.conn.execute("BEGIN IMMEDIATE")
            self.log.write(self.conn, batch)
            self.conn.execute("COMMIT")
            self.log.flush_background()  # deterministic rotations: each seal finishes before the next batch
            sent += batch
        return sent

    def close(self) -> None:
        self.log.close()
        self.conn.close()


def test_rotation_seals_parquet_and_readers_see_every_event_in_order(tmp_path: Path) -> None:
    directory = tmp_path / "event-log"
    writer = Writer(directory, segment_max_bytes=4096)
    sent = writer.write(40)
    writer.log.flush_background()
    sealed = list_segments(directory)
    assert len(sealed) >= 4
    table = pq.read_table(sealed[0])
    assert table.column_names == ["lsn", "logged_ms", "event_id", "user_id", "item_id", "timestamp_ms", "domain",
                                  "event_type", "kind"]  # fmt: skip
    assert set(table.column("kind").to_pylist()) == {"event"}
    assert parquet_meta(sealed[0])["format"] == 2 and parquet_meta(sealed[0])["deletions"] == 0
    assert list(iter_events(directory)) == sent
    assert [r.lsn for r in iter_records(directory)] == list(range(1, len(sent) + 1))
    writer.close()
    # Reopen: numbering continues; the reader is not fooled by a seal running while it reads.
    writer = Writer(directory, segment_max_bytes=4096)
    reads: list[list[Event]] = []
    reader = threading.Thread(target=lambda: reads.extend(list(iter_events(directory)) for _ in range(20)))
    reader.start()
    more = writer.write(20, prefix="more")
    reader.join()
    writer.close()
    assert all(read[: len(sent)] == sent and read == (sent + more)[: len(read)] for read in reads)
    assert list(iter_events(directory)) == sent + more
    assert [r.lsn for r in iter_records(directory)] == list(range(1, len(sent) + len(more) + 1))


def test_a_crash_while_sealing_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "event-log"
    writer = Writer(directory)
    sent = writer.write(5)
    # Crash after the Parquet file was renamed into place, before its rows left the table; and a torn .tmp.
    rows = list(iter_records(directory))
    write_parquet(directory / f"{1:020d}.parquet", rows[:20])
    (directory / f"{21:020d}.parquet.tmp").write_bytes(b"PAR1 torn")
    writer.close()
    assert [r.lsn for r in iter_records(directory)] == list(range(1, 51))  # the reader skips the sealed rows
    writer = Writer(directory)
    assert not list(directory.glob("*.tmp"))
    assert writer.conn.execute("SELECT min(lsn), count(*) FROM event_log").fetchone() == (21, 30)
    more = writer.write(1, prefix="after")
    writer.close()
    assert list(iter_events(directory)) == sent + more
    # The database is lost and recreated: numbering continues after the sealed segments.
    for path in tmp_path.glob("events.sqlite3*"):
        path.unlink()
    writer = Writer(directory)
    last = writer.write(1, prefix="last")
    writer.close()
    assert [r.lsn for r in iter_records(directory)] == list(range(1, 31))
    assert list(iter_events(directory)) == sent[:20] + last


def test_age_rotation_and_since(tmp_path: Path) -> None:
    directory = tmp_path / "event-log"
    writer = Writer(directory, segment_max_age_s=0.05)
    old = writer.write(2, prefix="old")
    time.sleep(0.1)
    cut = int(time.time() * 1000)
    new = writer.write(2, prefix="new")  # the first of these starts a seal of everything committed
    writer.log.flush_background()
    assert len(list_segments(directory)) == 1
    assert list(iter_events(directory, since=cut)) == new
    # An old event re-logged after the cut (re-sent after being trimmed from the store) is not yielded twice.
    writer.conn.execute("BEGIN")
    writer.log.write(writer.conn, [old[0]])
    writer.conn.execute("COMMIT")
    writer.close()
    assert list(iter_events(directory, since=cut)) == new
    assert list(iter_events(directory)) == old + new


def test_retention_deletes_whole_old_segments_never_the_active_one(tmp_path: Path) -> None:
    directory = tmp_path / "event-log"
    writer = Writer(directory, segment_max_bytes=4096, retention_max_bytes=8000)
    writer.write(60)
    writer.log.flush_background()
    sizes = [p.stat().st_size for p in list_segments(directory)]
    assert sum(sizes) <= 8000 and sizes
    events = list(iter_events(directory))
    assert events[-1].event_id == "e59-9" and events[0].event_id != "e0-0"  # the oldest went, as whole segments
    assert int(list_segments(directory)[0].stem) == next(r.lsn for r in iter_records(directory))
    writer.close()
    # Age: every sealed segment is past a retention of ~1 ms; the active rows stay.
    writer = Writer(directory, segment_max_bytes=4096, retention_days=1e-8)
    time.sleep(0.01)
    writer.log.flush_background()
    assert list_segments(directory) == []
    assert [e.event_id for e in iter_events(directory)][-1] == "e59-9"
    writer.close()


class FailingLog:
    name = "failing"

    def __init__(self) -> None:
        self.fail = False

    def open(self, conn: sqlite3.Connection) -> None:
        pass

    def write(self, conn: sqlite3.Connection, entries: Sequence[Event | UserDeletion]) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")

    def close(self) -> None:
        pass


async def test_a_failed_log_write_fails_the_append_and_stores_nothing(tmp_path: Path) -> None:
    sink = FailingLog()
    store = EmbeddedStore(UserStateSettings(data_dir=tmp_path, metrics_port=None), event_log=sink)
    await store.start()
    try:
        await store.append([ev("u", "a", T0)])
        sink.fail = True
        with pytest.raises(Unavailable, match="No space left"):
            await store.append([ev("u", "b", T0 + 1)])
        sink.fail = False
        [events] = await store.get_sequences(["u"], SequenceFilter())
        assert [e.event_id for e in events] == ["a"]
        assert (await store.append([ev("u", "b", T0 + 1)])).appended == 1  # the retry is accepted and logged
    finally:
        await store.close()


def test_bad_event_log_settings_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"event_log": {"segment_max_bytes": 10}}, "event_log.segment_max_bytes"),
        ({"event_log": {"backend": "kafka"}}, "event_log.backend"),
        ({"event_log": {"retention_dayz": 3}}, "event_log.retention_dayz"),
        ({"event_log": {"retention_days": 0}}, "event_log.retention_days"),
        ({"store": "redis", "event_log": {"backend": "segments"}}, "event_log.backend"),
        ({"store": "redis", "event_log": {"redis_url": "redis://elsewhere:6379/0"}}, "event_log.redis_url"),
    ]
    for values, field in cases:
        with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
            UserStateSettings(**values)
    monkeypatch.setenv("KAIROS_USER_STATE_EVENT_LOG__SEGMENT_MAX_AGE_S", "60")
    assert UserStateSettings().event_log.segment_max_age_s == 60


def test_compactor_crash_between_segment_and_ack_writes_nothing_twice(redis_url: str, tmp_path: Path) -> None:
    import redis

    from user_state.event_log.redis_stream import RedisStreamSink

    sink = RedisStreamSink(redis_url, EventLogSettings())
    sink.open()
    events = [ev(f"u{k % 4}", f"e{k}", T0 + k) for k in range(30)]
    sink.write(None, events[:20])
    out = tmp_path / "out"
    first = Compactor(redis_url, out, segment_max_events=10)

    def crash(*_: object) -> None:
        raise ConnectionError("compactor killed before XACK")

    first.client.xack = crash  # type: ignore[method-assign,assignment]
    with pytest.raises(ConnectionError):
        first.run(once=True)
    first.close()
    assert len(list_segments(out)) == 1  # durable, never acknowledged
    sink.write(None, events[20:])
    second = Compactor(redis_url, out, segment_max_events=10)
    assert second.run(once=True) == 20  # the 10 already in a segment are skipped, not written again
    second.close()
    assert [r.event for r in iter_records(out)] == events
    with redis.Redis.from_url(redis_url) as client:
        assert client.xpending("kairos:event-log", "kairos-compactor")["pending"] == 0
    sink.close()


def test_compactor_retention_deletes_old_output_but_never_its_newest_segment(redis_url: str, tmp_path: Path) -> None:
    import redis

    from user_state.event_log.redis_stream import RedisStreamSink

    stream = f"kairos:event-log:{tmp_path.name}"
    sink = RedisStreamSink(redis_url, EventLogSettings(redis_stream=stream))
    sink.open()
    events = [ev(f"u{k % 3}", f"e{k}", T0 + k) for k in range(40)]
    sink.write(None, events)
    out = tmp_path / "out"
    bounded = Compactor(redis_url, out, stream=stream, segment_max_events=10, retention_max_bytes=1)
    assert bounded.run(once=True) == 40
    bounded.close()
    kept = list_segments(out)
    assert len(kept) == 1 and bounded.deleted == 3  # over any size bound, yet the newest stays
    assert [r.event for r in iter_records(out)] == events[30:]
    sink.write(None, [ev("u0", "late", T0 + 99)])
    aged = Compactor(redis_url, out, stream=stream, segment_max_events=10, retention_days=1e-9)
    time.sleep(0.01)
    assert aged.run(once=True) == 1  # numbering continues from the newest segment kept
    aged.close()
    assert [r.lsn for r in iter_records(out)] == [41]  # the older segment is past ~0.1 ms of age: deleted
    assert [r.event.event_id for r in iter_records(out)] == ["late"]
    with redis.Redis.from_url(redis_url) as client:
        assert client.xpending(stream, "kairos-compactor")["pending"] == 0
    sink.close()
