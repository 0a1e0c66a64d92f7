"""An item as the catalogue stores it: raw encoder outputs (so any model version can re-project it)."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ItemRecord:
    """Raw content features of one item; ``text``/``image`` are None when that modality is absent.

    ``attributes`` and ``published_ms`` are what filters match on; ``updated_ms`` is when it was last upserted.
    """

    item_id: str
    text: np.ndarray | None  # (text_dim,) float32
    image: np.ndarray | None  # (image_dim,) float32
    domain: str = ""
    updated_ms: int = 0
    attributes: Mapping[str, str] = field(default_factory=dict)
    published_ms: int = 0

    def __post_init__(self) -> None:
        if self.text is None and self.image is None:
            raise ValueError(f"item {self.item_id!r}: needs a text or an image embedding")


def _blob(vector: np.ndarray | None) -> bytes:
    return b"" if vector is None else np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _vector(blob: bytes) -> np.ndarray | None:
    return None if not blob else np.frombuffer(blob, dtype="<f4").copy()


def record_blobs(record: ItemRecord) -> tuple[bytes, bytes]:
    """(text, image) little-endian float32 blobs; empty for an absent modality."""
    return _blob(record.text), _blob(record.image)


def record_from_blobs(
    item_id: str,
    text: bytes,
    image: bytes,
    domain: str,
    updated_ms: int,
    attributes: Mapping[str, str] | None = None,
    published_ms: int = 0,
) -> ItemRecord:
    return ItemRecord(item_id, _vector(text), _vector(image), domain, updated_ms, dict(attributes or {}), published_ms)


def encode_records(records: list[ItemRecord]) -> bytes:
    """Portable binary form (for the Redis stream): 4-byte header length, JSON header, then the blobs."""
    header, blobs = [], []
    for r in records:
        text, image = record_blobs(r)
        header.append([r.item_id, len(text), len(image), r.domain, r.updated_ms, dict(r.attributes), r.published_ms])
        blobs += [text, image]
    head = json.dumps(header).encode()
    return struct.pack("<I", len(head)) + head + b"".join(blobs)


def decode_records(payload: bytes) -> list[ItemRecord]:
    """Inverse of :func:`encode_records`; raises ValueError on a malformed payload. Entries written before items
    had attributes (5 header fields) decode with none."""
    if len(payload) < 4:
        raise ValueError("payload: truncated header")
    (head_len,) = struct.unpack_from("<I", payload)
    header = json.loads(payload[4 : 4 + head_len])
    offset = 4 + head_len
    out = []
    for entry in header:
        item_id, n_text, n_image, domain, updated_ms = entry[:5]
        attributes, published_ms = (entry[5], entry[6]) if len(entry) >= 7 else ({}, 0)
        text = payload[offset : offset + n_text]
        image = payload[offset + n_text : offset + n_text + n_image]
        if len(text) != n_text or len(image) != n_image:
            raise ValueError(f"payload: truncated vectors of item {item_id!r}")
        offset += n_text + n_image
        out.append(record_from_blobs(item_id, text, image, domain, updated_ms, attributes, published_ms))
    return out
