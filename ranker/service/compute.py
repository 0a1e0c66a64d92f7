"""The single compute worker: forward passes, scoring and index mutations run here, off the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import torch
from threadpoolctl import threadpool_limits

P = ParamSpec("P")
R = TypeVar("R")


class ComputeWorker:
    """One thread: CPU-heavy work never blocks the event loop, and index/model state has a single writer."""

    def __init__(self, threads: int = 0, blas_threads: int = 0) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ranker-compute")
        if threads:
            self._executor.submit(torch.set_num_threads, threads).result()
        if blas_threads:  # process-wide: OpenBLAS has one pool
            self._blas_limit = threadpool_limits(limits=blas_threads, user_api="blas")

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` on the worker thread and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` on the worker thread from a non-async thread and wait for it."""
        return self._executor.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
