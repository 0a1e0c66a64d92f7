"""Bounded LRU cache of embeddings keyed by a hash of the content."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np


def content_key(modality: str, content: str | bytes) -> str:
    """SHA-256 of the modality and the raw content (UTF-8 for text)."""
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return hashlib.sha256(modality.encode() + b"\0" + data).hexdigest()


class EmbeddingCache:
    """Least-recently-used map from content key to a read-only embedding; ``max_items`` 0 disables it."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> np.ndarray | None:
        vector = self._entries.get(key)
        if vector is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return vector

    def put(self, key: str, vector: np.ndarray) -> None:
        if self.max_items == 0:
            return
        stored = np.array(vector, dtype=np.float32, copy=True)
        stored.flags.writeable = False
        self._entries[key] = stored
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_items:
            self._entries.popitem(last=False)
