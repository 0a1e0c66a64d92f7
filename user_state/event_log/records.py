"""Log records and the sealed segment's Parquet file: written atomically, its lsn range in the footer.

Format 2 (the footer's ``kairos.format``) adds the column ``kind``: ``event`` (an accepted event) or
``delete_user`` (a DeleteUser the store applied: ``user_id`` set, ``timestamp_ms`` the deletion time, the other
strings empty), and the footer's ``kairos.deletions`` (how many deletion records the file holds). Format-1 files
(no ``kind`` column, no ``kairos.format``) hold events only and are read as such.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kairos.durable import fsync_dir
from user_state.events import Event, UserDeletion

FORMAT = 2
EVENT = "event"
DELETE_USER = "delete_user"
KINDS = (EVENT, DELETE_USER)


@dataclass(slots=True)
class Record:
    """One logged entry with its position and logging time: an event, or (``kind`` delete_user) a deletion of
    ``event.user_id`` at ``event.timestamp_ms`` (its other fields empty)."""

    lsn: int
    logged_ms: int
    event: Event
    kind: str = EVENT

    @property
    def is_deletion(self) -> bool:
        return self.kind == DELETE_USER


def deletion_event(deletion: UserDeletion) -> Event:
    """The Event-shaped row a deletion is logged as (only user_id and timestamp_ms set)."""
    return Event("", deletion.user_id, "", deletion.deleted_ms)


def entry_row(entry: Event | UserDeletion) -> tuple[str, Event]:
    """(kind, Event-shaped row) of an entry the stores hand to the log."""
    if isinstance(entry, UserDeletion):
        return DELETE_USER, deletion_event(entry)
    return EVENT, entry


def stem(lsn: int) -> str:
    """The file name (without suffix) of a segment whose first record is `lsn`."""
    return f"{lsn:020d}"


def write_parquet(path: Path, rows: Sequence[Record], extra: dict[str, pa.Array] | None = None) -> int:
    """Write `rows` as one Parquet file atomically (temporary file, fsync, rename, fsync dir); return its size.

    The file's key-value metadata holds first/last lsn and logged_ms, so readers can skip it from the footer.
    """
    events = [r.event for r in rows]
    columns = {
        "lsn": pa.array([r.lsn for r in rows], pa.int64()),
        "logged_ms": pa.array([r.logged_ms for r in rows], pa.int64()),
        "event_id": pa.array([e.event_id for e in events], pa.string()),
        "user_id": pa.array([e.user_id for e in events], pa.string()),
        "item_id": pa.array([e.item_id for e in events], pa.string()),
        "timestamp_ms": pa.array([e.timestamp_ms for e in events], pa.int64()),
        "domain": pa.array([e.domain for e in events], pa.string()),
        "event_type": pa.array([e.event_type for e in events], pa.string()),
        "kind": pa.array([r.kind for r in rows], pa.string()),
        **(extra or {}),
    }
    metadata = {
        "kairos.format": str(FORMAT),
        "kairos.deletions": str(sum(r.is_deletion for r in rows)),
        "kairos.first_lsn": str(rows[0].lsn if rows else 0),
        "kairos.last_lsn": str(rows[-1].lsn if rows else 0),
        "kairos.first_logged_ms": str(rows[0].logged_ms if rows else 0),
        "kairos.last_logged_ms": str(rows[-1].logged_ms if rows else 0),
    }
    table = pa.table(columns).replace_schema_metadata(metadata)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path.stat().st_size


def parquet_meta(path: Path) -> dict[str, int]:
    """first_lsn, last_lsn, first_logged_ms, last_logged_ms (format 2: format, deletions) of a sealed segment."""
    raw = pq.read_metadata(path).metadata or {}
    return {k.decode().removeprefix("kairos."): int(v) for k, v in raw.items() if k.startswith(b"kairos.")}


def _record(row: Sequence[object]) -> Record:
    """A Record from (lsn, logged_ms, event_id, user_id, item_id, timestamp_ms, domain, event_type[, kind])."""
    lsn, logged_ms, event_id, user_id, item_id, ts, domain, event_type, *kind = row
    event = Event(event_id, user_id, item_id, ts, domain, event_type)  # type: ignore[arg-type]
    return Record(lsn, logged_ms, event, str(kind[0]) if kind else EVENT)  # type: ignore[arg-type]
