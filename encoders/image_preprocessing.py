"""Decode, resize and normalise raw JPEG/PNG bytes for EfficientNet-Lite0, with per-item errors."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from encoders.errors import InvalidItemError

SUPPORTED_FORMATS = ("JPEG", "PNG")


@dataclass
class PixelBatch:
    """Normalised pixels float32 (n, 3, size, size); rows of invalid items are zeros."""

    pixels: np.ndarray
    errors: list[str | None]


class ImagePreprocessor:
    """Turns encoded images into model input: RGB, ``size`` x ``size`` (bilinear), (x - 127.5) / 127.5.

    Guards: at most ``max_bytes`` encoded bytes and ``max_pixels`` decoded pixels (checked from the header
    before decoding, so decompression bombs are refused without allocating them); JPEG and PNG only.
    """

    def __init__(self, size: int = 224, max_bytes: int = 10 * 1024 * 1024, max_pixels: int = 40_000_000) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels

    def preprocess_one(self, data: object) -> np.ndarray:
        """Return (3, size, size) float32 pixels or raise :class:`InvalidItemError` naming the problem."""
        image = self._open(self.check_payload(data))
        width, height = image.size
        if width * height > self.max_pixels:
            raise InvalidItemError(
                f"image: {width}x{height} = {width * height} pixels exceeds the limit of {self.max_pixels}"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
                rgb = image.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
            raise InvalidItemError(f"image: corrupt or truncated {image.format} data ({exc})") from exc
        array = np.asarray(rgb, dtype=np.float32)
        return ((array - 127.5) / 127.5).transpose(2, 0, 1).copy()

    def check_payload(self, data: object) -> bytes:
        """Cheap checks before decoding (type, emptiness, byte size); returns the payload as ``bytes``."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidItemError(f"image: expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if not data:
            raise InvalidItemError("image: empty payload")
        if len(data) > self.max_bytes:
            raise InvalidItemError(f"image: {len(data)} bytes exceeds the limit of {self.max_bytes} bytes")
        return data

    def _open(self, data: bytes) -> Image.Image:
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise InvalidItemError(f"image: decompression bomb refused ({exc})") from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidItemError("image: not a decodable JPEG or PNG (corrupt or unknown format)") from exc
        if image.format not in SUPPORTED_FORMATS:
            raise InvalidItemError(
                f"image: unsupported format {image.format}; expected one of {', '.join(SUPPORTED_FORMATS)}"
            )
        return image

    def __call__(self, images: Sequence[object]) -> PixelBatch:
        """Pre-process a batch; a bad image yields an error and a zero row, never fails the others."""
        pixels = np.zeros((len(images), 3, self.size, self.size), dtype=np.float32)
        errors: list[str | None] = []
        for i, data in enumerate(images):
            try:
                pixels[i] = self.preprocess_one(data)
                errors.append(None)
            except InvalidItemError as exc:
                errors.append(str(exc))
        return PixelBatch(pixels, errors)
