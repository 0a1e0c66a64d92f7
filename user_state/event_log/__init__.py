"""The event log: every event the user-state service newly accepts, in order, for training to read.

Backends: `segments` (embedded: rotated append-only files under <data_dir>/event-log, see segments.py) and
`redis_stream` (scale-out: one Redis stream per deployment plus a compactor to segment files, see
redis_stream.py). Training reads either directory with `iter_events(directory, since=None)`. DeleteUser is logged
too (a deletion record, records.py): the reader drops every event of the user logged before it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from user_state.event_log.settings import EventLogSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from user_state.events import Event, UserDeletion

__all__ = ["EventLogSettings", "LogSink", "iter_events"]


class LogSink(Protocol):
    """A log the embedded store's writer thread appends to inside each transaction, before it commits."""

    name: str

    def open(self, conn: sqlite3.Connection) -> None:
        """Called once by the writer thread with its connection (schema created, no transaction open)."""

    def write(self, conn: sqlite3.Connection, entries: Sequence[Event | UserDeletion]) -> None:
        """Append `entries` (accepted events, applied deletions) in order (the transaction on `conn` is open);
        raise on failure: nothing commits."""

    def close(self) -> None: ...


def iter_events(directory: Path | str, since: int | None = None) -> Iterator[Event]:
    """Every logged event once (deduplicated on (user_id, event_id)), in log order, without the events a later
    DeleteUser removed; see reader.iter_events."""
    from user_state.event_log.reader import iter_events as _iter_events

    return _iter_events(Path(directory), since)
