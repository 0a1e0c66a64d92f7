"""Business filters over the index: item attributes and publication times kept row-aligned with the vectors.

Each attribute key is a column of small integer codes (0 = the item lacks the key), so a filter over 100k items
is a handful of vectorised comparisons, not a loop over items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ABSENT = 0  # the code of "this item has no value for the key"


@dataclass(frozen=True)
class ItemFilterSpec:
    """Which items a query may return: every ``include`` condition holds, no ``exclude`` condition holds, and the
    item was published at or after ``published_after_ms`` (0: no freshness rule). A condition is (key, values):
    the item's attribute ``key`` equals one of ``values``."""

    include: tuple[tuple[str, frozenset[str]], ...] = ()
    exclude: tuple[tuple[str, frozenset[str]], ...] = ()
    published_after_ms: int = 0

    @property
    def empty(self) -> bool:
        """True when the filter lets every item through."""
        return not self.include and not self.exclude and self.published_after_ms <= 0

    def allows(self, attributes: Mapping[str, str], published_ms: int) -> bool:
        """Whether one item with these attributes and publication time passes (the scalar form of a mask)."""
        if published_ms < self.published_after_ms:
            return False
        if any(attributes.get(key) not in values for key, values in self.include):
            return False
        return not any(attributes.get(key) in values for key, values in self.exclude)


class FacetColumns:
    """Attribute codes and publication times per index row. Not thread-safe by itself (the index locks)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = max(capacity, 1)
        self._codes: dict[str, np.ndarray] = {}  # key -> (capacity,) int32 codes
        self._vocab: dict[str, dict[str, int]] = {}  # key -> value -> code (codes start at 1)
        self._values: dict[str, list[str]] = {}  # key -> code -> value (index 0 unused)
        self._published = np.zeros(self._capacity, dtype=np.int64)

    def _reserve(self, rows: int) -> None:
        if rows <= self._capacity:
            return
        capacity = max(rows, 2 * self._capacity)
        for key, codes in self._codes.items():
            grown = np.zeros(capacity, dtype=np.int32)
            grown[: self._capacity] = codes
            self._codes[key] = grown
        published = np.zeros(capacity, dtype=np.int64)
        published[: self._capacity] = self._published
        self._published, self._capacity = published, capacity

    def _code(self, key: str, value: str) -> int:
        vocab = self._vocab.get(key)
        if vocab is None:
            vocab = self._vocab[key] = {}
            self._values[key] = [""]
            self._codes[key] = np.zeros(self._capacity, dtype=np.int32)
        code = vocab.get(value)
        if code is None:
            code = vocab[value] = len(self._values[key])
            self._values[key].append(value)
        return code

    def write(
        self, rows: np.ndarray, attributes: Sequence[Mapping[str, str]], published_ms: Sequence[int] | np.ndarray
    ) -> None:
        """Set the attributes (replacing all earlier ones) and publication time of each of ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return
        self._reserve(int(rows.max()) + 1)
        self.clear(rows)
        for row, attrs in zip(rows.tolist(), attributes, strict=True):
            for key, value in attrs.items():
                code = self._code(key, value)
                self._codes[key][row] = code
        self._published[rows] = np.asarray(published_ms, dtype=np.int64)

    def clear(self, rows: np.ndarray) -> None:
        """Forget the facets of ``rows`` (deleted items)."""
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[rows < self._capacity]
        for codes in self._codes.values():
            codes[rows] = ABSENT
        self._published[rows] = 0

    def taken(self, rows: np.ndarray) -> FacetColumns:
        """New columns holding ``rows`` of these, renumbered 0..len(rows)-1 (an index compaction)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = FacetColumns(max(len(rows), 1024))
        out._vocab = {key: dict(vocab) for key, vocab in self._vocab.items()}
        out._values = {key: list(values) for key, values in self._values.items()}
        for key, codes in self._codes.items():
            column = np.zeros(out._capacity, dtype=np.int32)
            column[: len(rows)] = codes[rows]
            out._codes[key] = column
        out._published[: len(rows)] = self._published[rows]
        return out

    def _matching(self, key: str, values: frozenset[str], n: int) -> np.ndarray:
        """(n,) bool: rows whose attribute ``key`` is one of ``values``."""
        vocab = self._vocab.get(key)
        wanted = [vocab[v] for v in values if v in vocab] if vocab is not None else []
        if not wanted:
            return np.zeros(n, dtype=bool)
        codes = self._codes[key][:n]
        if len(wanted) == 1:
            return codes == wanted[0]
        return np.isin(codes, np.asarray(wanted, dtype=np.int32))

    def mask(self, spec: ItemFilterSpec, n: int) -> np.ndarray:
        """(n,) bool: the first ``n`` rows that ``spec`` lets through (deleted rows are not excluded here). Every row
        of the index has been written (facets or none), so ``n`` never exceeds the columns' capacity."""
        allowed = np.ones(n, dtype=bool)
        if spec.published_after_ms > 0:
            allowed &= self._published[:n] >= spec.published_after_ms
        for key, values in spec.include:
            allowed &= self._matching(key, values, n)
        for key, values in spec.exclude:
            allowed &= ~self._matching(key, values, n)
        return allowed

    def attributes_of(self, row: int) -> dict[str, str]:
        """The attributes stored for ``row``."""
        if row >= self._capacity:
            return {}
        return {key: self._values[key][int(c[row])] for key, c in self._codes.items() if c[row] != ABSENT}

    def allows(self, row: int, spec: ItemFilterSpec) -> bool:
        """Whether ``row`` passes ``spec`` (the scalar form of :meth:`mask`)."""
        published = int(self._published[row]) if row < self._capacity else 0
        return spec.allows(self.attributes_of(row), published)
