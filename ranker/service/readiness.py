"""Readiness: the ranker reports SERVING only once the model, the index and the item encoders are warm."""

from __future__ import annotations

import asyncio
import io
import logging
import time

from PIL import Image

from encoders.client import EncoderClient

log = logging.getLogger(__name__)
WARM_UP_TEXT = "kairos ranker warm-up"


def warm_up_image() -> bytes:
    """A small PNG the image encoder can embed (decode, resize, forward pass)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (96, 128, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


async def warm_up_encoders(encoders: EncoderClient, attempt_timeout_s: float, retry_s: float) -> float:
    """Embed one text and one image until both succeed; return the seconds it took.

    Each attempt is bounded by ``attempt_timeout_s`` (a cold in-process ONNX Runtime or Triton model load);
    a failure is logged and retried after ``retry_s``, for as long as the ranker runs.
    """
    started = time.monotonic()
    image = warm_up_image()
    attempt = 0
    while True:
        attempt += 1
        try:
            texts = await encoders.embed_texts([WARM_UP_TEXT], timeout_s=attempt_timeout_s)
            images = await encoders.embed_images([image], timeout_s=attempt_timeout_s)
            failed = [e for e in (*texts.errors, *images.errors) if e is not None]
            if failed:
                raise RuntimeError(f"warm-up item rejected: {failed[0]}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure keeps the ranker NOT_SERVING and is retried
            log.warning(
                "encoder warm-up failed; health stays NOT_SERVING",
                extra={"attempt": attempt, "error": str(exc), "retry_s": retry_s},
            )
            await asyncio.sleep(retry_s)
            continue
        elapsed = time.monotonic() - started
        log.info("encoders warm", extra={"seconds": round(elapsed, 3), "attempts": attempt})
        return elapsed
