"""A corpus of hostile 'images' for UpsertItems, built in memory (no files), plus one honest control image."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def decompression_bomb_png(side: int = 20_000) -> bytes:
    """A valid side x side greyscale PNG (400 M pixels for 20,000) whose zeros compress to under 1 MB."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + pixels
    parts = [compressor.compress(row) for _ in range(side)]
    return _png(side, side, b"".join(parts) + compressor.flush())


def huge_dimensions_png() -> bytes:
    """A PNG header claiming 1,000,000 x 1,000,000 pixels with almost no data behind it."""
    return _png(1_000_000, 1_000_000, zlib.compress(b"\0" * 64))


def control_jpeg() -> bytes:
    """A small, honest JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 90)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def control_png() -> bytes:
    """A small, honest PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 240)).save(buffer, "PNG")
    return buffer.getvalue()


def hostile_corpus() -> dict[str, bytes]:
    """name → bytes of every hostile image the ranker must refuse per item."""
    jpeg = control_jpeg()
    return {
        "truncated_jpeg": jpeg[: len(jpeg) // 2],
        "jpeg_header_only": jpeg[:20],
        "decompression_bomb_png": decompression_bomb_png(),
        "huge_dimensions_png": huge_dimensions_png(),
        "zero_bytes": b"\0" * 4096,
        "text_posing_as_jpeg": b"\xff\xd8\xff\xe0" + b"<html><body>not an image</body></html>" * 20,
        "text_posing_as_png": b"\x89PNG\r\n\x1a\n" + b"#!/bin/sh\nrm -rf /\n" * 20,
        "plain_text": b"definitely a poster, trust me",
    }
