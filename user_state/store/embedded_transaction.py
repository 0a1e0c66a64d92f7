"""The embedded store's writer transaction: one group of appends and deletions, a handful of statements."""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from user_state.events import Event, UserDeletion
from user_state.store.base import AppendResult
from user_state.store.embedded_rows import _INSERT, _TOUCH_USER, _TRIM, EMPTY, _load_user, _now_ms, _UserState

if TYPE_CHECKING:
    from user_state.store.embedded import EmbeddedStore


class _Transaction:
    """The writer's work for one group: working copies of the touched users and the SQL to run.

    Inserts are buffered and sent with one executemany; a user's trimmed events are deleted with one range
    statement at the end (everything before the oldest retained (ts, seq)), so a group costs a handful of
    statements however many events it holds.
    """

    def __init__(self, store: EmbeddedStore, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self.now_ms = _now_ms()
        self.working: dict[str, _UserState] = {}
        self.inserts: list[tuple[Any, ...]] = []
        self.trimmed: set[str] = set()
        self.accepted: list[Event | UserDeletion] = []  # new events and deletions, in arrival order (event log)

    def state(self, user_id: str) -> _UserState:
        """The user's working copy (from the group, the cache or disk; expired users start empty)."""
        state = self.working.get(user_id)
        if state is not None:
            return state
        base = self.store._cached(user_id)
        if base is None:
            base = _load_user(self.conn, user_id, self.store.ttl_ms is not None)
        if base.expired(self.store.ttl_ms, self.now_ms):
            self.conn.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
            base = EMPTY
        state = self.working[user_id] = base.copy()
        return state

    def append(self, events: Sequence[Event]) -> AppendResult:
        cap = self.store.cap
        touched: dict[str, _UserState] = {}
        appended = duplicates = 0
        for event in events:
            user_id = event.user_id
            state = touched.get(user_id)
            if state is None:
                state = touched[user_id] = self.state(user_id)
            if event.event_id in state.ids:
                duplicates += 1
                continue
            seq = state.next_seq
            state.next_seq = seq + 1
            ts = event.timestamp_ms
            if not state.ts or ts >= state.ts[-1]:
                state.ts.append(ts)
                state.seqs.append(seq)
                state.events.append(event)
            else:  # a late event goes after every event with the same timestamp (arrival order)
                at = bisect.bisect_right(state.ts, ts)
                state.ts.insert(at, ts)
                state.seqs.insert(at, seq)
                state.events.insert(at, event)
            state.ids.add(event.event_id)
            self.inserts.append((user_id, ts, seq, event.event_id, event.item_id, event.domain, event.event_type))
            self.accepted.append(event)
            appended += 1
        for user_id, state in touched.items():
            state.last_write_ms = self.now_ms
            excess = len(state.events) - cap
            if excess > 0:
                for old in state.events[:excess]:
                    state.ids.discard(old.event_id)
                del state.events[:excess]
                del state.ts[:excess]
                del state.seqs[:excess]
                self.trimmed.add(user_id)
        return AppendResult(appended, duplicates)

    def delete_user(self, user_id: str) -> int:
        count = len(self.state(user_id).events)
        self.flush_inserts()
        self.conn.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
        self.conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
        self.working[user_id] = _UserState()
        self.trimmed.discard(user_id)
        self.accepted.append(UserDeletion(user_id, self.now_ms))  # logged even with nothing stored: the log may
        return count  # hold events the store no longer keeps (trimmed, expired)

    def flush_inserts(self) -> None:
        if self.inserts:
            self.conn.executemany(_INSERT, self.inserts)
            self.inserts = []

    def flush(self) -> None:
        """Send the buffered inserts, the trims and (with a TTL) the users' last-write times."""
        self.flush_inserts()
        trims = []
        for user_id in self.trimmed:
            state = self.working[user_id]
            if state.events:
                trims.append((user_id, state.ts[0], state.seqs[0]))
            else:
                self.conn.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
        if trims:
            self.conn.executemany(_TRIM, trims)
        if self.store.ttl_ms is not None:
            touched = [(u, s.last_write_ms) for u, s in self.working.items() if s.last_write_ms == self.now_ms]
            self.conn.executemany(_TOUCH_USER, touched)
