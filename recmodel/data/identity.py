"""Content keys of a dataset: what the feature and evaluation-run caches are keyed by (never names or paths)."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from recmodel.data.contract import Items
from recmodel.data.source import ResolvedDataset


@lru_cache(maxsize=65536)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (memoised per path, size and modification time within a process)."""
    stat = Path(path).stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


def image_digests(items: Items) -> list[str]:
    """Per item, the sha256 of its image file ("" without one), in item order."""
    paths = items.image_paths or [None] * len(items)
    return [file_digest(Path(p)) if p else "" for p in paths]


def data_key(source: ResolvedDataset, items: Items) -> str:
    """sha256 over how the data is read, the events and items files' bytes and every image's bytes."""
    digest = hashlib.sha256(json.dumps(source.parse_options(), sort_keys=True).encode())
    for path in (source.events, source.items):
        digest.update(file_digest(path).encode())
    for image in image_digests(items):
        digest.update(image.encode() + b"\n")
    return digest.hexdigest()
