"""A bounded LRU cache of history states: the part of a user vector that depends on the history alone.

A user vector is ``state(history) + request_terms(request time, target domain)``. Between two events of a user,
every Recommend call sees the same history, so its state is computed once and only the cheap request terms are
added per call. Keys are digests of exactly what the state depends on (the history items' vectors, timestamps
and domains), so a changed history or a re-upserted history item can never hit a stale entry; a new model
(hot reload) comes with a new cache.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np


def history_key(vectors: np.ndarray, times_ms: np.ndarray, domains: np.ndarray) -> bytes:
    """Digest of one history: item vectors (L, dim) float32, timestamps (L,) int64, domains (L,) int64."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (vectors, times_ms, domains):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.digest()


class HistoryStateCache:
    """LRU map from history digests to (dim,) float32 states; ``capacity`` 0 disables it. Not thread-safe:
    callers serialise access (the serving model calls it under its lock)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"history_cache_size: must be >= 0, got {capacity}")
        self.capacity = capacity
        self._states: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: bytes) -> np.ndarray | None:
        state = self._states.get(key)
        if state is None:
            self.misses += 1
            return None
        self._states.move_to_end(key)
        self.hits += 1
        return state

    def put(self, key: bytes, state: np.ndarray) -> None:
        if self.capacity == 0:
            return
        self._states[key] = state
        self._states.move_to_end(key)
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)

    def take_counts(self) -> tuple[int, int]:
        """(hits, misses) since the previous call."""
        counts = (self.hits, self.misses)
        self.hits = self.misses = 0
        return counts
