"""Reading the segment directory (the embedded log's, or the compactor's): records, deletions, training's events.

A directory holds sealed Parquet segments named by their first lsn and, for the embedded log, the marker
ACTIVE_DB naming the SQLite database whose table `event_log` is the active segment (see segments.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq

from user_state.event_log.records import DELETE_USER, EVENT, Record, _record, parquet_meta
from user_state.events import Event

SEALED_SUFFIX = ".parquet"
ACTIVE_DB = "ACTIVE_DB"
COLUMNS = ["lsn", "logged_ms", "event_id", "user_id", "item_id", "timestamp_ms", "domain", "event_type", "kind"]


def list_segments(directory: Path) -> list[Path]:
    """The sealed segment files in log order."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == SEALED_SUFFIX)


def _parquet_rows(path: Path, columns: list[str]) -> list[tuple[object, ...]]:
    """The file's rows as tuples of ``columns``; a format-1 file (no ``kind`` column) reads as events only."""
    present = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in columns if c in present])
    values = [table.column(c).to_pylist() if c in present else [EVENT] * table.num_rows for c in columns]
    return list(zip(*values, strict=True))


def _active_db(directory: Path) -> Path | None:
    marker = Path(directory) / ACTIVE_DB
    if not marker.is_file():
        return None
    path = Path(marker.read_text().strip())
    return path if path.is_file() else None


def _active_rows(directory: Path, after_lsn: int, columns: list[str] = COLUMNS) -> list[tuple[object, ...]]:
    """Committed rows (``columns``) of the active segment past `after_lsn` (read-only; a consistent snapshot)."""
    db = _active_db(directory)
    if db is None:
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        present = {row[1] for row in conn.execute("PRAGMA table_info(event_log)")}
        if not present:  # a database without a log table (log never enabled)
            return []
        select = ", ".join(c if c in present else f"'{EVENT}'" for c in columns)  # format 1: no kind column
        return conn.execute(f"SELECT {select} FROM event_log WHERE lsn > ? ORDER BY lsn", (after_lsn,)).fetchall()
    finally:
        conn.close()


def _walk(
    directory: Path,
    read_segment: Callable[[Path], tuple[list[tuple[object, ...]], int | None]],
    active_columns: list[str],
) -> Iterator[tuple[object, ...]]:
    """Rows in log order: each sealed segment's (``read_segment``: its rows and its last lsn, None if unknown),
    then the committed rows (``active_columns``, lsn first) of the active segment.

    A seal running concurrently (rows moved from the table into a new segment between our listing and our read
    of the table) is noticed by the gap it leaves, and the new segment is read first. A segment deleted by
    retention while we read is skipped, with every record before it.
    """
    last = 0
    while True:
        for path in list_segments(directory):
            if int(path.stem) <= last:
                continue
            try:
                rows, segment_last = read_segment(path)
            except FileNotFoundError:
                continue
            yield from rows
            last = last if segment_last is None else segment_last
        active = _active_rows(directory, last, active_columns)
        moved = any(int(p.stem) > last for p in list_segments(directory))
        if moved and (not active or active[0][0] != last + 1):
            continue
        yield from active
        return


def _last_lsn(rows: list[tuple[object, ...]]) -> int | None:
    return int(rows[-1][0]) if rows else None  # type: ignore[call-overload]


def _records(directory: Path, keys_only_before: int | None = None) -> Iterator[Record]:
    """Every record in log order: sealed segments, then the committed rows of the active one.

    Segments whose last record was logged before `keys_only_before` are read for their keys only (records with
    logged_ms -1).
    """

    def read(path: Path) -> tuple[list[tuple[object, ...]], int | None]:
        if keys_only_before is not None and parquet_meta(path).get("last_logged_ms", 0) < keys_only_before:
            keys: list[tuple[object, ...]] = [
                (lsn, -1, event_id, user_id, "", 0, "", "", kind)
                for lsn, user_id, event_id, kind in _parquet_rows(path, ["lsn", "user_id", "event_id", "kind"])
            ]
            return keys, _last_lsn(keys)
        rows = _parquet_rows(path, COLUMNS)
        return rows, _last_lsn(rows)

    for row in _walk(directory, read, COLUMNS):
        yield _record(row)


def iter_records(directory: Path) -> Iterator[Record]:
    """Every record in log order (events and deletions), duplicates included."""
    return _records(directory)


def deletions(directory: Path) -> tuple[dict[str, int], int]:
    """({user_id: lsn of the user's latest deletion}, the last lsn of the log when read).

    Sealed segments are read from their footers, and only those holding deletions for three columns; the active
    segment for three columns. A seal running concurrently is handled as in `_walk`.
    """
    columns = ["lsn", "user_id", "kind"]
    latest: dict[str, int] = {}
    last = 0

    def read(path: Path) -> tuple[list[tuple[object, ...]], int | None]:
        nonlocal last
        meta = parquet_meta(path)
        rows = _parquet_rows(path, columns) if meta.get("deletions", 0) else []
        segment_last = meta.get("last_lsn")
        if segment_last is not None:  # a segment without deletions still moves the end of the log
            last = max(last, int(segment_last))
        return rows, segment_last

    for lsn, user_id, kind in _walk(directory, read, columns):
        if kind == DELETE_USER:
            latest[str(user_id)] = int(lsn)  # type: ignore[call-overload]
        last = max(last, int(lsn))  # type: ignore[call-overload]
    return latest, last


def iter_events(directory: Path, since: int | None = None) -> Iterator[Event]:
    """Training's reader: every logged event once, in log order, deduplicated on (user_id, event_id), without
    the events of a user logged before that user's latest deletion (DeleteUser).

    The deletions are read first (see `deletions`); records logged after that read are left for the next one.
    `since` (milliseconds since the epoch, wall clock of the log write): start at the first event logged at or
    after it; an event already logged before `since` is not yielded again (earlier sealed segments are scanned
    for their ids only, a few columns of each Parquet file).
    """
    deleted, end = deletions(directory)
    seen: set[tuple[str, str]] = set()
    for record in _records(directory, since):
        if record.lsn > end:
            return
        key = (record.event.user_id, record.event.event_id)
        if record.is_deletion or record.lsn < deleted.get(key[0], 0) or key in seen:
            continue
        seen.add(key)
        if since is None or record.logged_ms >= since:
            yield record.event
