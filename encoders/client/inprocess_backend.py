"""In-process backend: ONNX Runtime in a thread pool so the event loop never blocks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from encoders.client.backends import Modality
from encoders.embeddings import Embeddings
from encoders.errors import EncoderDeadlineExceededError
from encoders.inprocess import InProcessEncoders
from encoders.settings import EncoderSettings

DEFAULT_MAX_BATCH = 32


class InProcessBackend:
    """Runs :class:`encoders.inprocess.InProcessEncoders` (loaded on first use) in worker threads."""

    def __init__(self, encoder_settings: EncoderSettings | None = None, workers: int = 1, max_batch: int | None = None):
        self._encoder_settings = encoder_settings or EncoderSettings()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kairos-encoders")
        self._encoders: InProcessEncoders | None = None
        self._load_lock = threading.Lock()
        self._max_batch = max_batch or DEFAULT_MAX_BATCH

    def _load(self) -> InProcessEncoders:
        with self._load_lock:
            if self._encoders is None:
                self._encoders = InProcessEncoders(self._encoder_settings)
            return self._encoders

    def _embed_sync(self, modality: Modality, items: Sequence[str | bytes]) -> Embeddings:
        encoders = self._load()
        # The client hands a backend strings for "text" and bytes for "image" (EmbeddingBackend.embed).
        if modality == "text":
            return encoders.embed_texts(cast(Sequence[str], items))
        return encoders.embed_images(cast(Sequence[bytes], items))

    def known_max_batch_size(self, modality: Modality) -> int | None:
        return self._max_batch

    async def max_batch_size(self, modality: Modality, timeout_s: float) -> int:
        return self._max_batch

    async def embed(self, modality: Modality, items: Sequence[str | bytes], timeout_s: float) -> Embeddings:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._embed_sync, modality, list(items))
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError as exc:
            raise EncoderDeadlineExceededError(
                f"in-process {modality} encoder did not finish within {timeout_s:.3f}s"
            ) from exc

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
