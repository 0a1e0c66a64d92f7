"""Micro-batching: requests that arrive within a short window are processed together as one batch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BatchProcessor = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


class MicroBatcher(Generic[T, R]):
    """Collects submitted items into batches of at most ``max_size``, waiting at most ``window_s`` for company.

    The first item of a batch opens the window; the batch closes when the window elapses or it is full. The
    window only opens while another batch is being processed: an idle server answers a lone request at once
    (nothing could join it), and under load requests gather while the previous batch computes.
    ``process`` returns one result (or exception) per item, in order. At most ``max_in_flight`` batches run
    at once (so one batch's I/O overlaps the previous batch's compute); beyond that, requests accumulate
    into larger, cheaper batches.
    """

    def __init__(self, process: BatchProcessor[T, R], window_s: float, max_size: int, max_in_flight: int = 2) -> None:
        self._process = process
        self.window_s = window_s
        self.max_size = max_size
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ranker-micro-batcher")

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result."""
        self.start()
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _collect(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.window_s if self._running else 0.0)
        while len(batch) < self.max_size:
            while len(batch) < self.max_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            remaining = deadline - loop.time()
            if len(batch) >= self.max_size or remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        while True:
            await self._slots.acquire()
            batch = await self._collect()
            task = asyncio.create_task(self._run_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            await self._process_batch(batch)
        finally:
            self._slots.release()

    async def _process_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        live = [(item, fut) for item, fut in batch if not fut.done()]  # cancelled callers are dropped
        if not live:
            return
        try:
            results: Sequence[R | BaseException] = await self._process([item for item, _ in live])
        except Exception as exc:  # the whole batch failed: every caller sees the error
            results = [exc] * len(live)
        for (_, fut), result in zip(live, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
