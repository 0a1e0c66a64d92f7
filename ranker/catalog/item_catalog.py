"""The ranker's item catalogue: raw features of every live item, backed by the embedded store."""

from __future__ import annotations

from collections import deque

from ranker.catalog.feature_table import FeatureTable
from ranker.catalog.records import ItemRecord
from ranker.catalog.sqlite_store import SqliteItemStore


class ItemCatalog:
    """Artifact items overlaid with upserted and deleted ones; every change is persisted before it is applied.

    Mutated from one thread at a time (the ranker's compute worker).
    """

    def __init__(self, features: FeatureTable, store: SqliteItemStore, recent_capacity: int = 1000) -> None:
        self.features = features
        self.store = store
        self._recent: deque[str] = deque(maxlen=recent_capacity)

    @classmethod
    def open(cls, base: FeatureTable, store: SqliteItemStore) -> ItemCatalog:
        """``base`` (the artifact's training items) plus what ``store`` holds: upserts win, deletions apply."""
        catalog = cls(base, store)
        live, deleted = store.load()
        live.sort(key=lambda r: r.updated_ms)
        base.upsert(live)
        base.remove(deleted)
        catalog._recent.extend(r.item_id for r in live)
        return catalog

    def upsert(self, records: list[ItemRecord], cursor: str | None = None) -> None:
        """Persist then apply ``records``; ``cursor`` is the stream entry they came from, if any."""
        self.store.upsert(records, cursor)
        self.features.upsert(records)
        self._recent.extend(r.item_id for r in records)

    def delete(self, item_ids: list[str], cursor: str | None = None) -> list[str]:
        """Persist then apply deletions; return the ids that were live."""
        self.store.delete(item_ids, cursor)
        return self.features.remove(item_ids)

    def recent_ids(self) -> list[str]:
        """Recently upserted live ids, newest first."""
        return [i for i in reversed(self._recent) if i in self.features]
