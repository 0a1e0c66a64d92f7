"""The embedded store's SQLite layout and its in-memory form of one user (rows in, events out)."""

from __future__ import annotations

import bisect
import sqlite3
import time
from dataclasses import dataclass, field

from user_state.events import Event
from user_state.store.base import SequenceFilter

SCHEMA = """
-- One b-tree clustered by user and time: a user's sequence is one range scan. (user_id, event_id) is unique
-- by construction: the single writer checks every append against the user's retained ids.
CREATE TABLE IF NOT EXISTS events (
    user_id TEXT NOT NULL,
    ts INTEGER NOT NULL,             -- milliseconds since the Unix epoch
    seq INTEGER NOT NULL,            -- per-user arrival counter: breaks timestamp ties
    event_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    event_type TEXT NOT NULL,
    PRIMARY KEY (user_id, ts, seq)
) WITHOUT ROWID;
-- Last append per user; kept only while a TTL is configured (emptied at start-up otherwise).
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    last_write_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_by_last_write ON users (last_write_ms);
"""
_SELECT_USER = "SELECT seq, event_id, item_id, ts, domain, event_type FROM events WHERE user_id = ? ORDER BY ts, seq"
_TRIM = "DELETE FROM events WHERE user_id = ? AND (ts, seq) < (?, ?)"
_SELECT_LAST_WRITE = "SELECT last_write_ms FROM users WHERE user_id = ?"
_INSERT = "INSERT INTO events (user_id, ts, seq, event_id, item_id, domain, event_type) VALUES (?, ?, ?, ?, ?, ?, ?)"
_TOUCH_USER = (
    "INSERT INTO users (user_id, last_write_ms) VALUES (?, ?) "
    "ON CONFLICT (user_id) DO UPDATE SET last_write_ms = excluded.last_write_ms"
)


@dataclass(slots=True)
class _UserState:
    """One user's retained events, sorted by (timestamp, arrival). Never mutated once in the cache."""

    events: list[Event] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)  # events' timestamps, for bisect
    seqs: list[int] = field(default_factory=list)  # events' arrival counters
    ids: set[str] = field(default_factory=set)
    next_seq: int = 0
    last_write_ms: int = 0  # 0 = unknown (no TTL was configured when last written)
    encoded: bytes | None = None  # every event as Sequence.events fields, built on first read

    def copy(self) -> _UserState:
        return _UserState(
            list(self.events), list(self.ts), list(self.seqs), set(self.ids), self.next_seq, self.last_write_ms
        )

    def expired(self, ttl_ms: int | None, now_ms: int) -> bool:
        return ttl_ms is not None and bool(self.events) and 0 < self.last_write_ms < now_ms - ttl_ms


EMPTY = _UserState()


def _now_ms() -> int:
    return int(time.time() * 1000)


def select(state: _UserState, flt: SequenceFilter) -> list[Event]:
    """The events of `state` that `flt` keeps, oldest first."""
    events = state.events
    if not flt.is_plain:
        lo = bisect.bisect_left(state.ts, flt.since_ms) if flt.since_ms else 0
        hi = bisect.bisect_left(state.ts, flt.until_ms) if flt.until_ms else len(events)
        events = events[lo:hi]
        if flt.domain:
            events = [e for e in events if e.domain == flt.domain]
    if flt.limit and len(events) > flt.limit:
        return events[len(events) - flt.limit :]
    return events if events is not state.events else list(events)


def _load_user(conn: sqlite3.Connection, user_id: str, with_last_write: bool) -> _UserState:
    """Read one user's events (ordered) and, when a TTL is configured, last write time from `conn`."""
    state = _UserState()
    events, stamps, seqs, ids = state.events, state.ts, state.seqs, state.ids
    for seq, event_id, item_id, ts, domain, event_type in conn.execute(_SELECT_USER, (user_id,)):
        events.append(Event(event_id, user_id, item_id, ts, domain, event_type))
        stamps.append(ts)
        seqs.append(seq)
        ids.add(event_id)
    state.next_seq = max(seqs) + 1 if seqs else 0
    if with_last_write:
        row = conn.execute(_SELECT_LAST_WRITE, (user_id,)).fetchone()
        state.last_write_ms = row[0] if row else 0
    return state
