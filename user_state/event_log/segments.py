"""The embedded event log: an active segment committed with the store, sealed into immutable Parquet segments.

The active segment is the table `event_log` inside the store's own SQLite database: the writer thread inserts
the newly accepted events of a group commit into it in the same transaction as the events themselves. So the
store and the log are one unit — one commit, one fsync (`sync`), nothing logged that is not stored and nothing
stored that is not logged, whatever crashes (kill -9, power loss: SQLite's WAL detects and drops a torn tail).
`lsn` (log sequence number) is an AUTOINCREMENT key: commit order, never reused.

Sealed segments live in the log directory (default <data_dir>/event-log), one Parquet file per segment, named by
its first lsn (20 digits, so names sort in log order):

    00000000000000000001.parquet
    00000000000000052311.parquet
    ACTIVE_DB                       the path of the database holding the active segment (for readers)

When the active segment reaches `segment_max_bytes` (estimated) or `segment_max_age_s`, a background thread
copies its committed rows into a Parquet file (temporary file, fsync, rename, fsync of the directory) and only
then deletes them from the table, in small transactions. A crash in between leaves a .tmp file (deleted on
open) or rows already in a Parquet file (deleted on open). Retention deletes whole sealed segments by age
(`retention_days`) or total size (`retention_max_bytes`); the active segment is never deleted.

Besides events the log holds deletions (records of kind `delete_user`, see records.py): DeleteUser writes one in
the same transaction as the deletion. `iter_events` drops every event of a user logged before that user's
latest deletion, so a privacy deletion reaches training; events accepted after it are the user's new history.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from user_state.event_log.metrics import EventLogMetrics
from user_state.event_log.reader import (  # the reading side, re-exported for the log's users
    ACTIVE_DB,
    COLUMNS,
    SEALED_SUFFIX,
    deletions,
    iter_events,
    iter_records,
    list_segments,
)
from user_state.event_log.records import EVENT, _record, entry_row, parquet_meta, stem, write_parquet
from user_state.event_log.retention import expired
from user_state.event_log.settings import EventLogSettings
from user_state.events import Event, UserDeletion

log = logging.getLogger(__name__)

__all__ = ["ACTIVE_DB", "SEALED_SUFFIX", "SegmentLog", "deletions", "iter_events", "iter_records", "list_segments"]

BACKEND = "segments"
ROW_OVERHEAD_BYTES = 40  # estimate of a row's bytes beyond its strings (rotation by size is approximate)
DELETE_CHUNK = 5_000

TABLE = """
CREATE TABLE IF NOT EXISTS event_log (
    lsn INTEGER PRIMARY KEY AUTOINCREMENT,  -- commit order, never reused
    logged_ms INTEGER NOT NULL,             -- wall clock of the commit's group, ms since the epoch
    event_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    domain TEXT NOT NULL,
    event_type TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'event'      -- 'event' or 'delete_user' (records.py)
);
"""
_ADD_KIND = "ALTER TABLE event_log ADD COLUMN kind TEXT NOT NULL DEFAULT 'event'"  # a format-1 table
_INSERT = (
    "INSERT INTO event_log (logged_ms, event_id, user_id, item_id, timestamp_ms, domain, event_type, kind) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM event_log"


def _row_bytes(event: Event) -> int:
    return len(event.event_id) + len(event.user_id) + len(event.item_id) + len(event.domain) + ROW_OVERHEAD_BYTES


# ------------------------------------------------------------------------------------------------ writing
class SegmentLog:
    """The embedded store's log: `write` runs inside the writer's open transaction (one thread)."""

    name = BACKEND

    def __init__(
        self, directory: Path, db_path: Path, settings: EventLogSettings, metrics: EventLogMetrics | None = None
    ) -> None:
        self.directory = Path(directory)
        self.db_path = Path(db_path)
        self.max_bytes = settings.segment_max_bytes
        self.max_age_ms = int(settings.segment_max_age_s * 1000)
        self.retention_ms = int(settings.retention_days * 86_400_000) if settings.retention_days else None
        self.retention_max_bytes = settings.retention_max_bytes
        self.metrics = metrics or EventLogMetrics()
        self._lock = threading.Lock()  # guards the fields below (writer thread vs sealer thread)
        self._active_bytes = 0  # estimate of the active segment's size
        self._active_first_ms: int | None = None
        self._sealed: dict[Path, int] = {}  # sealed segment -> size
        self._sealing: Future[None] | None = None
        self._background: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------ lifecycle
    def open(self, conn: sqlite3.Connection) -> None:
        """Create the table (on the writer's connection) and recover from a crash during sealing."""
        self.directory.mkdir(parents=True, exist_ok=True)
        conn.executescript(TABLE)
        if "kind" not in {row[1] for row in conn.execute("PRAGMA table_info(event_log)")}:
            conn.execute(_ADD_KIND)  # a table written before deletions were logged: its rows are events
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink()
        sealed = list_segments(self.directory)
        self._sealed = {p: p.stat().st_size for p in sealed}
        if sealed:
            last_lsn = parquet_meta(sealed[-1]).get("last_lsn", 0)
            conn.execute("BEGIN IMMEDIATE")
            # Rows sealed before a crash that came before their deletion.
            conn.execute("DELETE FROM event_log WHERE lsn <= ?", (last_lsn,))
            # A database newer than the segments (recreated): numbering continues after them.
            conn.execute("INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('event_log', 0)")
            conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'event_log'", (last_lsn,))
            conn.execute("COMMIT")
        count, first_ms, strings = conn.execute(
            "SELECT count(*), min(logged_ms), coalesce(sum(length(event_id) + length(user_id) + length(item_id) "
            "+ length(domain)), 0) FROM event_log"
        ).fetchone()
        self._active_bytes = strings + count * ROW_OVERHEAD_BYTES
        self._active_first_ms = first_ms
        marker = self.directory / ACTIVE_DB
        if not marker.exists() or marker.read_text().strip() != str(self.db_path.resolve()):
            tmp = marker.with_name(ACTIVE_DB + ".tmp")
            tmp.write_text(str(self.db_path.resolve()) + "\n")
            os.replace(tmp, marker)
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-log-sealer")
        self._background.submit(self._retain)
        self.metrics.segments.set_function(self._segment_count)
        self.metrics.bytes.set_function(self._total_bytes)
        log.info(
            "event log open",
            extra={"dir": str(self.directory), "active_events": count, "sealed_segments": len(sealed)},
        )

    def close(self) -> None:
        """Let a running seal finish (a queued one is simply redone at the next open's first rotation)."""
        if self._background is not None:
            self._background.shutdown(wait=True, cancel_futures=True)
            self._background = None

    def _segment_count(self) -> int:
        with self._lock:
            return len(self._sealed) + 1

    def _total_bytes(self) -> int:
        with self._lock:
            return sum(self._sealed.values()) + self._active_bytes

    # ------------------------------------------------------------ writing (the store's writer thread)
    def write(self, conn: sqlite3.Connection, entries: Sequence[Event | UserDeletion]) -> None:
        """Insert `entries` (events and deletions, in order) into the active segment inside the caller's open
        transaction."""
        if not entries:
            return
        start = time.perf_counter()
        now_ms = int(time.time() * 1000)
        rows = [entry_row(entry) for entry in entries]
        try:
            conn.executemany(
                _INSERT,
                [
                    (now_ms, e.event_id, e.user_id, e.item_id, e.timestamp_ms, e.domain, e.event_type, kind)
                    for kind, e in rows
                ],
            )
        except sqlite3.Error:
            self.metrics.failures.labels(BACKEND).inc()
            raise
        events = sum(kind == EVENT for kind, _ in rows)
        added = sum(_row_bytes(e) for _, e in rows)
        with self._lock:
            self._active_bytes += added
            if self._active_first_ms is None:
                self._active_first_ms = now_ms
            due = self._active_bytes >= self.max_bytes or now_ms - self._active_first_ms >= self.max_age_ms
            if due and (self._sealing is None or self._sealing.done()) and self._background is not None:
                self._sealing = self._background.submit(self._seal)
        self.metrics.appended.labels(BACKEND).inc(events)
        self.metrics.deletions.labels(BACKEND).inc(len(rows) - events)
        self.metrics.appended_bytes.labels(BACKEND).inc(added)
        self.metrics.append_seconds.labels(BACKEND).observe(time.perf_counter() - start)

    # ------------------------------------------------------------ background: sealing and retention
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def _seal(self) -> None:
        """Copy the committed rows of the active segment into a Parquet file, then delete them."""
        try:
            conn = self._connect()
            try:
                rows = [_record(r) for r in conn.execute(f"{_SELECT} ORDER BY lsn").fetchall()]
                if rows:
                    target = self.directory / (stem(rows[0].lsn) + SEALED_SUFFIX)
                    size = write_parquet(target, rows)
                    last = rows[-1].lsn
                    while conn.execute(
                        "DELETE FROM event_log WHERE lsn IN (SELECT lsn FROM event_log WHERE lsn <= ? LIMIT ?)",
                        (last, DELETE_CHUNK),
                    ).rowcount:
                        pass  # small transactions: the store's writer waits at most one chunk
                    first_ms = conn.execute("SELECT min(logged_ms) FROM event_log").fetchone()[0]
                    sealed_bytes = sum(_row_bytes(r.event) for r in rows)
                    with self._lock:
                        self._sealed[target] = size
                        self._active_bytes = max(0, self._active_bytes - sealed_bytes)
                        self._active_first_ms = first_ms
                    self.metrics.sealed.inc()
                    log.info(
                        "event log segment sealed", extra={"segment": target.name, "events": len(rows), "bytes": size}
                    )
            finally:
                conn.close()
        except Exception:  # the rows stay in the active segment and are sealed at the next rotation
            log.exception("event log: sealing failed")
        self._retain()

    def _retain(self) -> None:
        """Delete the oldest sealed segments beyond the retention age or size (never the active one)."""
        try:
            with self._lock:
                sealed = sorted(self._sealed.items())
            now_ms = int(time.time() * 1000)
            sizes = dict(sealed)
            for path in expired(sealed, self.retention_ms, self.retention_max_bytes, now_ms, keep_last=False):
                size = sizes[path]
                path.unlink(missing_ok=True)
                with self._lock:
                    self._sealed.pop(path, None)
                self.metrics.deleted.inc()
                log.info("event log segment deleted by retention", extra={"segment": path.name, "bytes": size})
        except Exception:
            log.exception("event log: retention failed")

    def seal_now(self) -> None:
        """Seal the active segment and wait (tests, operators before copying the directory)."""
        if self._background is not None:
            self._background.submit(self._seal).result()

    def flush_background(self) -> None:
        """Wait until queued sealing and retention have run."""
        if self._background is not None:
            with contextlib.suppress(RuntimeError):
                self._background.submit(lambda: None).result()
