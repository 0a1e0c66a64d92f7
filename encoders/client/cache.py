"""Bounded LRU cache of embeddings keyed by a hash of the content."""

from __future__ import annotations

import hashlib

import numpy as np

from kairos.lru import LruCache


def content_key(modality: str, content: str | bytes) -> str:
    """SHA-256 of the modality and the raw content (UTF-8 for text)."""
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return hashlib.sha256(modality.encode() + b"\0" + data).hexdigest()


class EmbeddingCache(LruCache[str, np.ndarray]):
    """Least-recently-used map from content key to a read-only embedding; ``max_items`` 0 disables it."""

    def __init__(self, max_items: int) -> None:
        super().__init__(max_items, name="cache_max_items")

    def put(self, key: str, vector: np.ndarray) -> None:
        stored = np.array(vector, dtype=np.float32, copy=True)
        stored.flags.writeable = False
        super().put(key, stored)
