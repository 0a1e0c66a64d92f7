"""Embedded, durable item store on local disk (SQLite, WAL): upserted items, deletions and a stream cursor."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from ranker.catalog.records import ItemRecord, record_blobs, record_from_blobs

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    text BLOB NOT NULL,
    image BLOB NOT NULL,
    domain TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    attributes TEXT NOT NULL DEFAULT '{}',
    published_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Columns added after the first release: a store written by an older ranker gains them on open.
ADDED_COLUMNS = {
    "attributes": "TEXT NOT NULL DEFAULT '{}'",
    "published_ms": "INTEGER NOT NULL DEFAULT 0",
}


class SqliteItemStore:
    """Items upserted through the API (and tombstones of deleted ones). Every write is one transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
        for name, declaration in ADDED_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE items ADD COLUMN {name} {declaration}")

    def upsert(self, records: list[ItemRecord], cursor: str | None = None) -> None:
        """Store ``records`` (replacing or un-deleting), and the stream cursor when given, atomically."""
        rows = [
            (r.item_id, *record_blobs(r), r.domain, r.updated_ms, json.dumps(dict(r.attributes)), r.published_ms)
            for r in records
        ]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO items(item_id, text, image, domain, updated_ms, attributes, published_ms, deleted) "
                    "VALUES (?,?,?,?,?,?,?,0) "
                    "ON CONFLICT(item_id) DO UPDATE SET text=excluded.text, image=excluded.image, "
                    "domain=excluded.domain, updated_ms=excluded.updated_ms, attributes=excluded.attributes, "
                    "published_ms=excluded.published_ms, deleted=0",
                    rows,
                )
                self._set_cursor(cursor)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delete(self, item_ids: list[str], cursor: str | None = None) -> None:
        """Tombstone ``item_ids`` (so artifact items stay deleted after a restart), atomically."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO items(item_id, text, image, domain, updated_ms, deleted) VALUES (?,x'',x'','',0,1) "
                    "ON CONFLICT(item_id) DO UPDATE SET text=x'', image=x'', attributes='{}', deleted=1",
                    [(i,) for i in item_ids],
                )
                self._set_cursor(cursor)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _set_cursor(self, cursor: str | None) -> None:
        if cursor is not None:
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('stream_cursor', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (cursor,),
            )

    def cursor(self) -> str | None:
        """Id of the last stream entry applied to this store (None: never tailed)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='stream_cursor'").fetchone()
        return None if row is None else row[0]

    def load(self) -> tuple[list[ItemRecord], list[str]]:
        """(live upserted records, deleted ids)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT item_id, text, image, domain, updated_ms, deleted, attributes, published_ms FROM items"
            ).fetchall()
        live = [
            record_from_blobs(i, t, m, d, u, json.loads(a), p) for i, t, m, d, u, deleted, a, p in rows if not deleted
        ]
        deleted = [row[0] for row in rows if row[5]]
        return live, deleted

    def close(self) -> None:
        with self._lock:
            self._db.close()
