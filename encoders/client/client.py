"""The encoder client the ranker and training use: same interface over Triton or in-process ONNX Runtime."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import numpy as np

from encoders.client.backends import EmbeddingBackend, Modality
from encoders.client.cache import EmbeddingCache, content_key
from encoders.client.circuit_breaker import CircuitBreaker
from encoders.client.settings import EncoderClientSettings
from encoders.client.triton_backend import RetryableUnavailableError
from encoders.embeddings import Embeddings
from encoders.errors import EncoderDeadlineExceededError, EncoderUnavailableError, InvalidItemError
from encoders.image_preprocessing import ImagePreprocessor
from encoders.names import IMAGE_DIM, TEXT_DIM
from encoders.settings import EncoderSettings
from encoders.tokenization import TextTokenizer

LOG = logging.getLogger(__name__)
T = TypeVar("T")
_DIMS = {"text": TEXT_DIM, "image": IMAGE_DIM}


class EncoderClient:
    """Embeds texts and images: validates, serves repeats from an LRU cache, chunks the rest to the model's
    max batch, and calls the backend with a deadline, retries on UNAVAILABLE and a circuit breaker.

    Whole-call failures raise :class:`EncoderUnavailableError` (:class:`EncoderDeadlineExceededError` when the
    deadline passed); a bad item only sets its entry in ``Embeddings.errors`` and leaves its row zero.
    """

    def __init__(
        self,
        backend: EmbeddingBackend,
        settings: EncoderClientSettings | None = None,
        encoder_settings: EncoderSettings | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings or EncoderClientSettings()
        enc = encoder_settings or EncoderSettings()
        self._image_checks = ImagePreprocessor(enc.image_size, enc.max_image_bytes, enc.max_image_pixels)
        self.cache = EmbeddingCache(self.settings.cache_max_items)
        self.breaker = CircuitBreaker(self.settings.breaker_failure_threshold, self.settings.breaker_reset_s)

    async def embed_texts(self, texts: Sequence[str], timeout_s: float | None = None) -> Embeddings:
        """Embeddings (n, 384) of ``texts``; empty or non-string texts get a per-item error."""
        return await self._embed("text", texts, timeout_s)

    async def embed_images(self, images: Sequence[bytes], timeout_s: float | None = None) -> Embeddings:
        """Embeddings (n, 1280) of encoded JPEG/PNG images; bad images get a per-item error."""
        return await self._embed("image", images, timeout_s)

    async def close(self) -> None:
        """Release the backend (gRPC channel or worker threads)."""
        await self.backend.close()

    def _validate(self, modality: Modality, item: object) -> str | bytes:
        if modality == "text":
            return TextTokenizer.validate(item)
        return self._image_checks.check_payload(item)

    async def _embed(self, modality: Modality, items: Sequence[object], timeout_s: float | None) -> Embeddings:
        if isinstance(items, str | bytes | bytearray):
            name = "texts" if modality == "text" else "images"
            raise TypeError(f"{name}: expected a sequence of items, got a single {type(items).__name__}")
        loop = asyncio.get_running_loop()
        timeout = self.settings.timeout_s if timeout_s is None else timeout_s
        if timeout <= 0:
            raise EncoderDeadlineExceededError(f"timeout_s must be > 0, got {timeout}")
        deadline = loop.time() + timeout
        vectors = np.zeros((len(items), _DIMS[modality]), dtype=np.float32)
        errors: list[str | None] = [None] * len(items)
        rows_by_key: dict[str, list[int]] = {}
        content_by_key: dict[str, str | bytes] = {}
        for row, item in enumerate(items):
            try:
                content = self._validate(modality, item)
            except InvalidItemError as exc:
                errors[row] = str(exc)
                continue
            key = content_key(modality, content)
            if key in rows_by_key:
                rows_by_key[key].append(row)
                continue
            cached = self.cache.get(key)
            if cached is not None:
                vectors[row] = cached
                continue
            rows_by_key[key] = [row]
            content_by_key[key] = content
        if rows_by_key:
            await self._embed_missing(modality, rows_by_key, content_by_key, vectors, errors, deadline)
        return Embeddings(vectors, errors)

    async def _embed_missing(
        self,
        modality: Modality,
        rows_by_key: dict[str, list[int]],
        content_by_key: dict[str, str | bytes],
        vectors: np.ndarray,
        errors: list[str | None],
        deadline: float,
    ) -> None:
        """Embed each distinct uncached item once (chunks in parallel) and fill its rows and the cache."""
        keys = list(rows_by_key)
        max_batch = self.backend.known_max_batch_size(modality)
        if max_batch is None:
            max_batch = await self._call(lambda t: self.backend.max_batch_size(modality, t), deadline)
        chunks = [keys[i : i + max_batch] for i in range(0, len(keys), max_batch)]

        def request(chunk: list[str]) -> Callable[[float], Awaitable[Embeddings]]:
            return lambda t: self.backend.embed(modality, [content_by_key[k] for k in chunk], t)

        results = await asyncio.gather(*(self._call(request(c), deadline) for c in chunks), return_exceptions=True)
        embedded: list[Embeddings] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            embedded.append(result)
        for chunk, result in zip(chunks, embedded, strict=True):
            for j, key in enumerate(chunk):
                error = result.errors[j]
                if error is None:
                    self.cache.put(key, result.vectors[j])
                for row in rows_by_key[key]:
                    errors[row] = error
                    if error is None:
                        vectors[row] = result.vectors[j]

    async def _call(self, attempt: Callable[[float], Awaitable[T]], deadline: float) -> T:
        """One logical backend call: circuit breaker around retries with capped exponential back-off."""
        loop = asyncio.get_running_loop()
        self.breaker.before_call()
        s = self.settings
        retries = 0
        while True:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise EncoderDeadlineExceededError("encoder call deadline exceeded before the request was sent")
                try:
                    result = await asyncio.wait_for(attempt(remaining), remaining)
                except TimeoutError as exc:
                    raise EncoderDeadlineExceededError(f"encoder call exceeded its {remaining:.3f}s budget") from exc
            except RetryableUnavailableError as exc:
                delay = min(s.backoff_initial_s * 2**retries, s.backoff_max_s) * (0.5 + random.random() / 2)
                if retries >= s.max_retries or loop.time() + delay >= deadline:
                    self.breaker.record_failure()
                    raise EncoderUnavailableError(f"{exc} (after {retries} retries)") from exc
                retries += 1
                LOG.warning(
                    "encoder unavailable; retrying",
                    extra={"error": str(exc), "retry": retries, "delay_s": round(delay, 3)},
                )
                await asyncio.sleep(delay)
                continue
            except EncoderUnavailableError:
                self.breaker.record_failure()
                raise
            self.breaker.record_success()
            return result
