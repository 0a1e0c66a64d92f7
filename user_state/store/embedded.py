"""The embedded store: a hot in-memory LRU cache over SQLite (WAL mode) on local disk.

Writes go through one writer thread that owns the only write connection. It drains whatever appends are
queued, applies them in one transaction (group commit), commits with the configured `synchronous` level and
only then updates the cache and acknowledges. Reads are answered from the cache when the user is hot and from
a read connection (a WAL snapshot) otherwise.

Cache entries are replaced, never mutated (copy-on-write), so readers on the event loop never see a half-made
state. A reader that loads a cold user installs it only if no eviction happened meanwhile: an eviction is the
only way a newer state written by the writer could have left the cache before the stale one arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kairos.service.errors import Unavailable
from user_state import wire
from user_state.event_log import LogSink
from user_state.events import Event
from user_state.metrics import StoreMetrics
from user_state.settings import UserStateSettings
from user_state.store.base import AppendResult, EventStore, SequenceFilter
from user_state.store.embedded_rows import EMPTY, SCHEMA, _load_user, _now_ms, _UserState, select
from user_state.store.embedded_transaction import _Transaction

log = logging.getLogger(__name__)

DB_FILE = "events.sqlite3"


@dataclass(slots=True)
class _Append:
    events: Sequence[Event]
    future: asyncio.Future[AppendResult]


@dataclass(slots=True)
class _Delete:
    user_id: str
    future: asyncio.Future[int]


_STOP = object()


def _resolve(future: asyncio.Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # the caller went away (deadline, cancellation)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class EmbeddedStore(EventStore):
    """SQLite-backed store with a hot cache; see the module docstring for the concurrency design."""

    name = "embedded"

    def __init__(
        self, settings: UserStateSettings, metrics: StoreMetrics | None = None, event_log: LogSink | None = None
    ) -> None:
        self.path = Path(settings.data_dir) / DB_FILE
        self.sync = settings.sync.upper()
        self.cap = settings.max_events_per_user
        self.ttl_ms = int(settings.ttl_s * 1000) if settings.ttl_s is not None else None
        self.sweep_interval_s = settings.ttl_sweep_interval_s
        self.cache_capacity = settings.hot_cache_users
        self.max_group_events = settings.write_batch_max_events
        self.metrics = metrics or StoreMetrics()
        # Newly accepted events are written here inside their own transaction (user_state/README.md).
        self.event_log = event_log
        self._cache: OrderedDict[str, _UserState] = OrderedDict()
        self._lock = threading.Lock()
        self._evictions = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_ready = threading.Event()
        self._writer_error: BaseException | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="user-state-reader")
        self._reader_conn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # ---------------------------------------------------------------- lifecycle
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute(f"PRAGMA synchronous = {self.sync}")
        return conn

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = threading.Thread(target=self._writer_main, name="user-state-writer", daemon=True)
        self._writer.start()
        await asyncio.to_thread(self._writer_ready.wait)
        if self._writer_error is not None:
            raise self._writer_error
        log.info("embedded store open", extra={"path": str(self.path), "sync": self.sync, "cap": self.cap})

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(self._writer.join)
        await asyncio.get_running_loop().run_in_executor(self._reader, self._close_reader)
        self._reader.shutdown(wait=True)

    def _close_reader(self) -> None:
        if self._reader_conn is not None:
            self._reader_conn.close()
            self._reader_conn = None

    # ---------------------------------------------------------------- public API
    async def append(self, events: Sequence[Event]) -> AppendResult:
        self._check_open()
        assert self._loop is not None
        future: asyncio.Future[AppendResult] = self._loop.create_future()
        self._queue.put(_Append(events, future))
        result = await future
        self.metrics.appended.labels(self.name).inc(result.appended)
        self.metrics.duplicates.labels(self.name).inc(result.duplicates)
        return result

    async def delete_user(self, user_id: str) -> int:
        self._check_open()
        assert self._loop is not None
        future: asyncio.Future[int] = self._loop.create_future()
        self._queue.put(_Delete(user_id, future))
        return await future

    async def get_sequences(self, user_ids: Sequence[str], flt: SequenceFilter) -> list[list[Event]]:
        states = await self._states(user_ids)
        return [select(states[user_id], flt) for user_id in user_ids]

    async def get_encoded_sequences(self, user_ids: Sequence[str], flt: SequenceFilter) -> list[bytes]:
        """As the base class, but a user's whole sequence is encoded once and reused until it changes."""
        states = await self._states(user_ids)
        out = []
        for user_id in user_ids:
            state = states[user_id]
            if flt.is_plain and (not flt.limit or flt.limit >= len(state.events)):
                if state.encoded is None:
                    state.encoded = wire.sequence_events(state.events)
                out.append(wire.sequence_with_events(user_id, state.encoded))
            else:
                out.append(wire.sequence(user_id, select(state, flt)))
        return out

    async def _states(self, user_ids: Sequence[str]) -> dict[str, _UserState]:
        """The current state of each user (hot from the cache, else read from disk); expired users are empty."""
        self._check_open()
        states: dict[str, _UserState] = {}
        missing: list[str] = []
        with self._lock:
            cache = self._cache
            for user_id in user_ids:
                state = cache.get(user_id)
                if state is None:
                    missing.append(user_id)
                else:
                    cache.move_to_end(user_id)
                    states[user_id] = state
        self.metrics.cache_hits.inc(len(user_ids) - len(missing))
        if missing:
            self.metrics.cache_misses.inc(len(missing))
            states.update(await self._load_cold(list(dict.fromkeys(missing))))
        if self.ttl_ms is not None:
            now_ms = _now_ms()
            for user_id, state in states.items():
                if state.expired(self.ttl_ms, now_ms):
                    states[user_id] = EMPTY
        return states

    # ---------------------------------------------------------------- reads of cold users
    async def _load_cold(self, user_ids: list[str]) -> dict[str, _UserState]:
        evictions = self._evictions
        loop = asyncio.get_running_loop()
        try:
            loaded = await loop.run_in_executor(self._reader, self._read_users, user_ids)
        except sqlite3.Error as exc:
            raise Unavailable(f"embedded store read failed: {exc}") from exc
        if self.cache_capacity:
            with self._lock:
                if self._evictions == evictions:
                    for user_id, state in loaded.items():
                        if user_id not in self._cache:
                            self._cache[user_id] = state
                    self._evict_locked()
        return loaded

    def _read_users(self, user_ids: list[str]) -> dict[str, _UserState]:
        if self._reader_conn is None:
            self._reader_conn = self._connect()
        conn = self._reader_conn
        conn.execute("BEGIN")  # one snapshot for all users
        try:
            return {user_id: _load_user(conn, user_id, self.ttl_ms is not None) for user_id in user_ids}
        finally:
            conn.execute("COMMIT")

    def _evict_locked(self) -> None:
        while len(self._cache) > self.cache_capacity:
            self._cache.popitem(last=False)
            self._evictions += 1

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("embedded store is closed")
        if self._writer is not None and not self._writer.is_alive():
            raise Unavailable("embedded store writer stopped")

    # ---------------------------------------------------------------- the writer thread
    def _writer_main(self) -> None:
        try:
            conn = self._connect()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise RuntimeError(f"could not switch {self.path} to WAL mode (got {mode})")
            conn.executescript(SCHEMA)
            if self.ttl_ms is None:  # last-write times are not kept without a TTL: drop stale ones
                conn.execute("DELETE FROM users")
            if self.event_log is not None:
                self.event_log.open(conn)
        except BaseException as exc:
            self._writer_error = exc
            self._writer_ready.set()
            return
        self._writer_ready.set()
        next_sweep = time.monotonic() + self.sweep_interval_s
        try:
            while True:
                timeout = max(0.0, next_sweep - time.monotonic()) if self.ttl_ms is not None else None
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    break
                group = [] if item is None else [item]
                stop = self._drain_into(group)
                if self.ttl_ms is not None and time.monotonic() >= next_sweep:
                    self._sweep(conn)
                    next_sweep = time.monotonic() + self.sweep_interval_s
                if group:
                    self._apply_group(conn, group)
                if stop:
                    break
        finally:
            conn.close()
            if self.event_log is not None:
                self.event_log.close()
            self._fail_queued(Unavailable("embedded store writer stopped"))

    def _fail_queued(self, error: Unavailable) -> None:
        """Answer whatever is still queued once the writer is gone (normally nothing: close drains first)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self._call_soon(item.future, None, error)

    def _drain_into(self, group: list[Any]) -> bool:
        """Add queued items to `group` up to the group size; True when a stop request was seen."""
        size = sum(len(item.events) for item in group if isinstance(item, _Append))
        while size < self.max_group_events:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            group.append(item)
            if isinstance(item, _Append):
                size += len(item.events)
        return False

    def _apply_group(self, conn: sqlite3.Connection, group: list[Any]) -> None:
        """Apply a group of appends/deletes in one transaction, then update the cache and acknowledge."""
        tx = _Transaction(self, conn)
        results: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in group:
                if isinstance(item, _Append):
                    results.append(tx.append(item.events))
                else:
                    results.append(tx.delete_user(item.user_id))
            if self.event_log is not None and tx.accepted:
                self.event_log.write(conn, tx.accepted)  # in the transaction: stored and logged as one unit
            tx.flush()
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.exception("embedded store write failed")
            error = Unavailable(f"embedded store write failed: {exc}")
            for item in group:
                self._call_soon(item.future, None, error)
            return
        self.metrics.write_transactions.inc()
        if self.cache_capacity:
            with self._lock:
                for user_id, state in tx.working.items():
                    self._cache[user_id] = state
                    self._cache.move_to_end(user_id)
                self._evict_locked()
        for item, result in zip(group, results, strict=True):
            self._call_soon(item.future, result, None)

    def _call_soon(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(_resolve, future, result, error)

    def _cached(self, user_id: str) -> _UserState | None:
        with self._lock:
            return self._cache.get(user_id)

    def _sweep(self, conn: sqlite3.Connection) -> None:
        """Delete users whose last append is older than the TTL, on disk and in the cache."""
        assert self.ttl_ms is not None
        cutoff = _now_ms() - self.ttl_ms
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "DELETE FROM events WHERE user_id IN (SELECT user_id FROM users WHERE last_write_ms < ?)", (cutoff,)
            )
            deleted = conn.execute("DELETE FROM users WHERE last_write_ms < ?", (cutoff,)).rowcount
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.exception("TTL sweep failed")
            return
        with self._lock:
            expired = [u for u, s in self._cache.items() if s.events and 0 < s.last_write_ms < cutoff]
            for user_id in expired:
                self._cache[user_id] = EMPTY
        if deleted:
            log.info("expired users deleted", extra={"users": deleted})
