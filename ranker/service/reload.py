"""Hot reload: a new artifact is loaded and its index built in the background, then swapped in atomically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ranker.index import IndexConfig, ItemIndex
from ranker.service.compute import ComputeWorker
from ranker.service.metrics import RankerMetrics
from ranker.service.model import artifact_fingerprint, load_model
from ranker.service.state import ServingState, project_rows
from recmodel.model.serving import ServingModel

log = logging.getLogger(__name__)


class StateHolder:
    """The current ServingState; readers take a reference and keep it for their whole batch."""

    def __init__(self, state: ServingState) -> None:
        self.state = state

    def __call__(self) -> ServingState:
        return self.state


class ModelReloader:
    """Watches the artifact path (polling, and SIGHUP) and swaps in a new model version without downtime.

    The new model is loaded and the catalogue re-projected on a background thread while the old model keeps
    serving; item changes made meanwhile are replayed onto the new index on the compute worker, which then
    swaps the state. In-flight batches finish with the state they started with.
    """

    def __init__(
        self,
        artifact: Path,
        holder: StateHolder,
        worker: ComputeWorker,
        index_config: IndexConfig,
        metrics: RankerMetrics,
        poll_s: float,
        on_swap: Callable[[ServingState], None] | None = None,
        history_cache_size: int = 0,
    ) -> None:
        self.artifact = artifact
        self.history_cache_size = history_cache_size
        self.holder = holder
        self.worker = worker
        self.index_config = index_config
        self.metrics = metrics
        self.poll_s = poll_s
        self.on_swap = on_swap
        self._fingerprint = artifact_fingerprint(artifact)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on the main thread / platform
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload(force=True)))
        if self.poll_s > 0:
            self._task = asyncio.create_task(self._poll(), name="ranker-artifact-poll")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.reload()
            except Exception:
                log.exception("hot reload failed; still serving the previous model")

    async def reload(self, force: bool = False) -> bool:
        """Load the artifact if it changed (or ``force``); return True when a new model was swapped in."""
        async with self._lock:
            fingerprint = await asyncio.to_thread(artifact_fingerprint, self.artifact)
            if not force and fingerprint == self._fingerprint:
                return False
            try:
                model = await asyncio.to_thread(load_model, self.artifact, self.history_cache_size)
            except Exception:
                self.metrics.reloads.labels("failed").inc()
                self._fingerprint = fingerprint  # do not retry a broken artifact every poll
                raise
            self._fingerprint = fingerprint
            old = self.holder.state
            if model.version == old.model.version and not force:
                return False
            ids, text, image, has_text, has_image, attributes, published = await self.worker.run(self._snapshot, old)
            try:
                vectors = await asyncio.to_thread(_project, model, ids, text, image, has_text, has_image)
                index = await asyncio.to_thread(
                    ItemIndex.build, ids, vectors, self.index_config, attributes, published, model.score_columns
                )
            except BaseException:
                await self.worker.run(old.catalog.features.stop_tracking)
                self.metrics.reloads.labels("failed").inc()
                raise
            new = ServingState(model, index, old.catalog)
            await self.worker.run(self._catch_up_and_swap, new)
            self.metrics.reloads.labels("ok").inc()
            log.info("model reloaded", extra={"old_version": old.model.version, "new_version": model.version})
            return True

    @staticmethod
    def _snapshot(
        state: ServingState,
    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, str]], np.ndarray]:
        """Worker thread: copy the live catalogue features and filter facets, and start tracking later changes."""
        f = state.catalog.features
        ids, rows = f.live_rows()
        f.track_changes()
        attributes, published = f.facets(rows)
        features = f.text[rows].copy(), f.image[rows].copy(), f.has_text[rows].copy(), f.has_image[rows].copy()
        return ids, *features, attributes, published

    def _catch_up_and_swap(self, new: ServingState) -> None:
        """Worker thread: apply item changes made during the reload to the new index, then swap."""
        f = new.catalog.features
        changed = f.stop_tracking()
        live = [i for i in changed if i in f]
        gone = [i for i in changed if i not in f]
        if live:
            rows = np.array([f.row_of[i] for i in live], dtype=np.int64)
            new.index.upsert(live, project_rows(new.model, new.catalog, rows), *f.facets(rows))
        if gone:
            new.index.remove(gone)
        self.holder.state = new
        if self.on_swap is not None:
            self.on_swap(new)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _project(
    model: ServingModel,
    ids: list[str],
    text: np.ndarray,
    image: np.ndarray,
    has_text: np.ndarray,
    has_image: np.ndarray,
) -> np.ndarray:
    out = np.zeros((len(text), model.dim), dtype=np.float32)
    for start in range(0, len(text), 8192):
        sl = slice(start, start + 8192)
        out[sl] = model.item_vectors(text[sl], image[sl], has_text[sl], has_image[sl], item_ids=ids[sl])
    return out
