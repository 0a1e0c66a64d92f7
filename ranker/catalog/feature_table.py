"""In-memory raw encoder features of every known item, addressed by id (history look-ups, re-projection)."""

from __future__ import annotations

import numpy as np

from encoders.features import ItemFeatures
from ranker.catalog.records import ItemRecord


class FeatureTable:
    """Rows of (text, image, has_text, has_image, domain); deleted rows are tombstoned and re-used never.

    Mutated only from one thread at a time (the ranker's compute worker); readers on that thread.
    """

    # Row-aligned columns, (re)allocated by _alloc.
    text: np.ndarray
    image: np.ndarray
    has_text: np.ndarray
    has_image: np.ndarray
    updated_ms: np.ndarray
    published_ms: np.ndarray

    def __init__(self, text_dim: int, image_dim: int, capacity: int = 1024) -> None:
        self.text_dim, self.image_dim = text_dim, image_dim
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self.domains: list[str] = []
        self.attributes: list[dict[str, str]] = []  # per row: what filters match on
        self.changed: list[str] | None = None  # ids upserted/removed since track_changes(), while tracking
        self._alloc(max(capacity, 1))

    def track_changes(self) -> None:
        """Start recording the ids of every later upsert and removal (a reload catches up from them)."""
        self.changed = []

    def stop_tracking(self) -> list[str]:
        """Stop recording; return the ids changed since :meth:`track_changes`, de-duplicated, in order."""
        changed, self.changed = self.changed or [], None
        return list(dict.fromkeys(changed))

    def _alloc(self, capacity: int) -> None:
        old = getattr(self, "text", None)
        text = np.zeros((capacity, self.text_dim), np.float32)
        image = np.zeros((capacity, self.image_dim), np.float32)
        has_text = np.zeros(capacity, bool)
        has_image = np.zeros(capacity, bool)
        updated = np.zeros(capacity, np.int64)
        published = np.zeros(capacity, np.int64)
        if old is not None:
            n = len(self.ids)
            text[:n], image[:n] = self.text[:n], self.image[:n]
            has_text[:n], has_image[:n], updated[:n] = self.has_text[:n], self.has_image[:n], self.updated_ms[:n]
            published[:n] = self.published_ms[:n]
        self.text, self.image, self.has_text, self.has_image, self.updated_ms, self.published_ms = (
            text, image, has_text, has_image, updated, published,
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.row_of)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.row_of

    @classmethod
    def from_items(cls, items: ItemFeatures) -> FeatureTable:
        """A table holding an item table's rows (the artifact's training catalogue, ``ServingModel.catalogue()``),
        growable and mutable from then on, with what the service adds per row (domain, filter attributes, times)."""
        ids = list(items.item_ids)
        text, image = items.text, items.image
        table = cls(text.shape[1], image.shape[1], capacity=max(len(ids) * 2, 1024))
        n = len(ids)
        table.text[:n], table.image[:n] = text, image
        table.has_text[:n], table.has_image[:n] = items.has_text, items.has_image
        table.ids = ids
        table.row_of = {i: r for r, i in enumerate(ids)}
        table.domains = [""] * n
        table.attributes = [{} for _ in range(n)]
        return table

    def upsert(self, records: list[ItemRecord]) -> None:
        """Add or replace items from their raw features; a missing modality is zeros with its mask off."""
        for r in records:
            if r.text is not None and r.text.shape != (self.text_dim,):
                raise ValueError(f"{r.item_id}.text: expected {self.text_dim} dims, got {r.text.shape}")
            if r.image is not None and r.image.shape != (self.image_dim,):
                raise ValueError(f"{r.item_id}.image: expected {self.image_dim} dims, got {r.image.shape}")
        for r in records:
            row = self.row_of.get(r.item_id)
            if row is None:
                if len(self.ids) == len(self.has_text):
                    self._alloc(len(self.ids) * 2)
                row = len(self.ids)
                self.ids.append(r.item_id)
                self.domains.append(r.domain)
                self.attributes.append({})
                self.row_of[r.item_id] = row
            self.domains[row] = r.domain
            self.attributes[row] = dict(r.attributes)
            self.published_ms[row] = r.published_ms
            self.has_text[row] = r.text is not None
            self.has_image[row] = r.image is not None
            self.text[row] = 0.0 if r.text is None else r.text
            self.image[row] = 0.0 if r.image is None else r.image
            self.updated_ms[row] = r.updated_ms
            if self.changed is not None:
                self.changed.append(r.item_id)

    def remove(self, item_ids: list[str]) -> list[str]:
        """Forget ``item_ids``; return those that were known."""
        removed = [i for i in dict.fromkeys(item_ids) if self.row_of.pop(i, None) is not None]
        if self.changed is not None:
            self.changed.extend(removed)
        return removed

    def live_rows(self) -> tuple[list[str], np.ndarray]:
        """(ids, rows) of every live item, in row order."""
        rows = np.array(sorted(self.row_of.values()), dtype=np.int64)
        return [self.ids[r] for r in rows], rows

    def facets(self, rows: np.ndarray) -> tuple[list[dict[str, str]], np.ndarray]:
        """(attributes, publication times) of ``rows``: what the index filters on."""
        return [self.attributes[r] for r in rows.tolist()], self.published_ms[rows].copy()

    def newest_updated_ms(self) -> int:
        """Upsert time of the most recently upserted live item (0 when none was upserted)."""
        _, rows = self.live_rows()
        return int(self.updated_ms[rows].max()) if len(rows) else 0
