"""DeleteUser in the event log: one deletion record per applied deletion, in order with the events, in both
stores (the Redis one read back through the compactor); the reader drops the user's earlier events; sealed
segments carry it (format 2) and format-1 segments and tables stay readable."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.user_state.builders import T0, ev, now_ms
from tests.user_state.conftest import MakeStore
from tests.user_state.test_event_log import Writer
from user_state.event_log import iter_events
from user_state.event_log.compactor import Compactor
from user_state.event_log.reader import ACTIVE_DB, deletions
from user_state.event_log.records import Record, parquet_meta
from user_state.event_log.segments import iter_records, list_segments
from user_state.events import Event, UserDeletion
from user_state.store.base import EventStore
from user_state.store.embedded import EmbeddedStore


def log_dir(store: EventStore, tmp_path: Path) -> Path:
    """The store's log as a segment directory (Redis: compacted into one first)."""
    if isinstance(store, EmbeddedStore):
        return tmp_path / "user_state" / "event-log"
    out = tmp_path / "compacted"
    compactor = Compactor(store._url, out)  # type: ignore[attr-defined]
    compactor.run(once=True)
    compactor.close()
    return out


def shape(records: list[Record]) -> list[tuple[str, str, str]]:
    return [(r.kind, r.event.user_id, r.event.event_id) for r in records]


async def test_delete_user_is_logged_once_in_order_and_the_reader_drops_the_earlier_events(
    make_store: MakeStore, tmp_path: Path
) -> None:
    store = await make_store(max_events_per_user=3)
    await store.append([ev("u", "a", T0), ev("u", "b", T0 + 1)])  # one user per call: the Redis store orders
    await store.append([ev("v", "x", T0)])  # a call's events by user
    await store.append([ev("u", "c", T0 + 2), ev("u", "d", T0 + 3)])  # cap 3: "a" is trimmed from the store
    before = now_ms()
    assert await store.delete_user("u") == 3  # the store held 3; the log holds 4 of u's events
    assert await store.delete_user("nobody") == 0  # logged too: the log may hold events the store dropped
    # u comes back: a new event, and "a" re-sent (the store forgot its id, so it is accepted again)
    await store.append([ev("u", "new", T0 + 9), ev("u", "a", T0)])
    await store.append([ev("v", "y", T0 + 9)])
    directory = log_dir(store, tmp_path)
    records = list(iter_records(directory))
    assert shape(records) == [
        ("event", "u", "a"),
        ("event", "u", "b"),
        ("event", "v", "x"),
        ("event", "u", "c"),
        ("event", "u", "d"),
        ("delete_user", "u", ""),
        ("delete_user", "nobody", ""),
        ("event", "u", "new"),
        ("event", "u", "a"),
        ("event", "v", "y"),
    ]
    deletion = records[5]
    assert before <= deletion.event.timestamp_ms <= now_ms() and deletion.event.item_id == ""
    events = list(iter_events(directory))
    assert events == [ev("v", "x", T0), ev("u", "new", T0 + 9), ev("u", "a", T0), ev("v", "y", T0 + 9)]
    latest, last = deletions(directory)
    assert latest == {"u": records[5].lsn, "nobody": records[6].lsn} and last == records[-1].lsn
    # A retried DeleteUser is a second record with nothing between: the same events reach training.
    await store.delete_user("v")
    await store.delete_user("v")
    directory = log_dir(store, tmp_path)
    assert [r.kind for r in iter_records(directory)].count("delete_user") == 4
    assert list(iter_events(directory)) == [ev("u", "new", T0 + 9), ev("u", "a", T0)]


def test_sealed_segments_carry_deletions_and_since_still_applies(tmp_path: Path) -> None:
    directory = tmp_path / "event-log"
    writer = Writer(directory, segment_max_bytes=4096)
    old = writer.write(20)  # users user-0..2, several sealed segments
    writer.conn.execute("BEGIN IMMEDIATE")
    writer.log.write(writer.conn, [UserDeletion("user-1", T0)])
    writer.conn.execute("COMMIT")
    time.sleep(0.005)  # `since` is a millisecond wall clock: keep the old events' milliseconds before the cut
    cut = now_ms()
    time.sleep(0.005)
    new = writer.write(2, prefix="new")
    writer.log.seal_now()
    writer.close()
    sealed = list_segments(directory)
    counts = [parquet_meta(p)["deletions"] for p in sealed]
    assert len(sealed) >= 3 and sum(counts) == 1 and {parquet_meta(p)["format"] for p in sealed} == {2}
    kept = [e for e in old if e.user_id != "user-1"]
    assert list(iter_events(directory)) == kept + new
    assert list(iter_events(directory, since=cut)) == new  # user-1's new events are after its deletion


def _format_1_table(rows: list[tuple[int, int, Event]]) -> pa.Table:
    """A segment as written before deletions were logged: no kind column, no format or deletions in the footer."""
    return pa.table(
        {
            "lsn": [lsn for lsn, _, _ in rows],
            "logged_ms": [ms for _, ms, _ in rows],
            "event_id": [e.event_id for _, _, e in rows],
            "user_id": [e.user_id for _, _, e in rows],
            "item_id": [e.item_id for _, _, e in rows],
            "timestamp_ms": [e.timestamp_ms for _, _, e in rows],
            "domain": [e.domain for _, _, e in rows],
            "event_type": [e.event_type for _, _, e in rows],
        }
    ).replace_schema_metadata(
        {
            "kairos.first_lsn": str(rows[0][0]),
            "kairos.last_lsn": str(rows[-1][0]),
            "kairos.first_logged_ms": str(rows[0][1]),
            "kairos.last_logged_ms": str(rows[-1][1]),
        }
    )


def test_format_1_segments_and_tables_stay_readable_and_are_migrated(tmp_path: Path) -> None:
    directory = tmp_path / "event-log"
    directory.mkdir()
    sealed = [ev("u", "s1", T0), ev("v", "s2", T0)]
    logged = now_ms()  # within the retention
    pq.write_table(_format_1_table([(1, logged, sealed[0]), (2, logged, sealed[1])]), directory / f"{1:020d}.parquet")
    db = tmp_path / "events.sqlite3"  # the active segment of an older server: a table without `kind`
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE event_log (lsn INTEGER PRIMARY KEY AUTOINCREMENT, logged_ms INTEGER NOT NULL, event_id TEXT "
        "NOT NULL, user_id TEXT NOT NULL, item_id TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, domain TEXT NOT "
        "NULL, event_type TEXT NOT NULL)"
    )
    active = ev("u", "t1", T0 + 1)
    row = (active.event_id, active.user_id, active.item_id, active.timestamp_ms, active.domain, active.event_type)
    conn.execute("INSERT INTO event_log VALUES (3, ?, ?, ?, ?, ?, ?, ?)", (logged, *row))
    conn.commit()
    conn.close()
    (directory / ACTIVE_DB).write_text(f"{db}\n")
    assert list(iter_events(directory)) == [*sealed, active]
    assert {r.kind for r in iter_records(directory)} == {"event"}
    # The new server opens the old table (adds the column; its rows are events) and logs a deletion of u.
    writer = Writer(directory)
    writer.conn.execute("BEGIN IMMEDIATE")
    writer.log.write(writer.conn, [UserDeletion("u", T0 + 2)])
    writer.conn.execute("COMMIT")
    after = writer.write(1, prefix="after")
    writer.log.seal_now()
    writer.close()
    assert [r.lsn for r in iter_records(directory)] == list(range(1, 5 + len(after)))
    assert list(iter_events(directory)) == [sealed[1], *after]
