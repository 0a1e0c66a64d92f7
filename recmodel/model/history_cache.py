"""A bounded LRU cache of history states: the part of a user vector that depends on the history alone.

A user vector is ``state(history) + request_terms(request time, target domain)``. Between two events of a user,
every Recommend call sees the same history, so its state is computed once and only the cheap request terms are
added per call. Keys are digests of exactly what the state depends on (the history items' vectors, timestamps
and domains), so a changed history or a re-upserted history item can never hit a stale entry; a new model
(hot reload) comes with a new cache.
"""

from __future__ import annotations

import hashlib

import numpy as np

from kairos.lru import LruCache


def history_key(vectors: np.ndarray, times_ms: np.ndarray, domains: np.ndarray) -> bytes:
    """Digest of one history: item vectors (L, dim) float32, timestamps (L,) int64, domains (L,) int64."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (vectors, times_ms, domains):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.digest()


class HistoryStateCache(LruCache[bytes, np.ndarray]):
    """LRU map from history digests to (dim,) float32 states; ``capacity`` 0 disables it. Not thread-safe:
    callers serialise access (the serving model calls it under its lock)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity, name="history_cache_size")

    def take_counts(self) -> tuple[int, int]:
        """(hits, misses) since the previous call."""
        counts = (self.hits, self.misses)
        self.hits = self.misses = 0
        return counts
