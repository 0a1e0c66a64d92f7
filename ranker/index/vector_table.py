"""A growable float32 matrix of item vectors addressed by item id, with tombstones for deleted rows."""

from __future__ import annotations

import numpy as np


class VectorTable:
    """Rows of ``dim`` float32 vectors; ``row_of`` maps a live item id to its row. Not thread-safe by itself."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self._vectors = np.zeros((max(capacity, 1), dim), dtype=np.float32)
        self._valid = np.zeros(max(capacity, 1), dtype=bool)
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}

    @property
    def rows(self) -> int:
        """Rows in use, live or deleted."""
        return len(self.ids)

    @property
    def live(self) -> int:
        """Number of live items."""
        return len(self.row_of)

    @property
    def vectors(self) -> np.ndarray:
        """(rows, dim) view; deleted rows are zeros and marked invalid."""
        return self._vectors[: self.rows]

    @property
    def valid(self) -> np.ndarray:
        """(rows,) bool view: True for live rows."""
        return self._valid[: self.rows]

    def _reserve(self, rows: int) -> None:
        capacity = len(self._valid)
        if rows <= capacity:
            return
        new_capacity = max(rows, capacity * 2)
        vectors = np.zeros((new_capacity, self.dim), dtype=np.float32)
        vectors[: self.rows] = self._vectors[: self.rows]
        valid = np.zeros(new_capacity, dtype=bool)
        valid[: self.rows] = self._valid[: self.rows]
        self._vectors, self._valid = vectors, valid

    def upsert(self, ids: list[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write ``vectors`` for ``ids`` (replacing in place where known); return (replaced rows, appended rows)."""
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"vectors: expected shape ({len(ids)}, {self.dim}), got {vectors.shape}")
        replaced, appended = [], []
        new_ids = [i for i in dict.fromkeys(ids) if i not in self.row_of]
        self._reserve(self.rows + len(new_ids))
        for item_id, vector in zip(ids, vectors, strict=True):
            row = self.row_of.get(item_id)
            if row is None:
                row = len(self.ids)
                self.ids.append(item_id)
                self.row_of[item_id] = row
                appended.append(row)
            else:
                replaced.append(row)
            self._vectors[row] = vector
            self._valid[row] = True
        return np.array(replaced, dtype=np.int64), np.array(appended, dtype=np.int64)

    def remove(self, ids: list[str]) -> np.ndarray:
        """Tombstone the rows of ``ids``; unknown ids are skipped. Return the removed rows."""
        rows = [self.row_of.pop(i) for i in dict.fromkeys(ids) if i in self.row_of]
        out = np.array(rows, dtype=np.int64)
        self._valid[out] = False
        self._vectors[out] = 0.0
        return out

    def deleted_share(self) -> float:
        """Share of used rows that are tombstones."""
        return 0.0 if not self.rows else 1.0 - self.live / self.rows

    def compacted(self) -> VectorTable:
        """A new table holding only the live rows, in their current order."""
        live = np.flatnonzero(self.valid)
        table = VectorTable(self.dim, capacity=max(len(live), 1024))
        table.upsert([self.ids[r] for r in live], self.vectors[live])
        return table
