"""Micro-batcher: concurrent submissions share batches; sizes and windows are honoured; errors reach callers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ranker.service.batcher import MicroBatcher


async def test_concurrent_requests_are_grouped_up_to_max_size() -> None:
    batches: list[list[int]] = []

    async def process(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0.01)
        return [i * 2 for i in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(process, window_s=0.005, max_size=8)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    await batcher.close()
    assert results == [i * 2 for i in range(20)]
    assert max(len(b) for b in batches) == 8
    assert len(batches) <= 4
    assert sorted(i for b in batches for i in b) == list(range(20))


async def test_lone_request_on_an_idle_batcher_does_not_wait_for_the_window() -> None:
    async def process(items: Sequence[int]) -> list[int]:
        return list(items)

    batcher: MicroBatcher[int, int] = MicroBatcher(process, window_s=0.05, max_size=64)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await batcher.submit(7) == 7
    elapsed = loop.time() - start
    await batcher.close()
    assert elapsed < 0.025  # nothing else was in flight: no window


async def test_requests_gather_for_the_window_while_a_batch_computes() -> None:
    batches: list[list[int]] = []

    async def process(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0.05 if items[0] == 0 else 0.0)  # the first batch is slow
        return list(items)

    batcher: MicroBatcher[int, int] = MicroBatcher(process, window_s=0.03, max_size=64, max_in_flight=2)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.005)  # batch [0] is computing now
    loop = asyncio.get_running_loop()
    start = loop.time()
    later = []
    for i in range(1, 5):  # arrive 5 ms apart, within one window
        later.append(asyncio.create_task(batcher.submit(i)))
        await asyncio.sleep(0.005)
    assert await asyncio.gather(first, *later) == [0, 1, 2, 3, 4]
    waited = loop.time() - start
    await batcher.close()
    assert batches[0] == [0] and batches[1] == [1, 2, 3, 4]  # grouped, not one by one
    assert waited >= 0.025


async def test_per_item_and_whole_batch_errors_reach_their_callers() -> None:
    async def process(items: Sequence[int]) -> list[int | BaseException]:
        if 99 in items:
            raise RuntimeError("batch exploded")
        return [ValueError(f"bad {i}") if i < 0 else i for i in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(process, window_s=0.002, max_size=4)
    ok, bad = await asyncio.gather(batcher.submit(1), batcher.submit(-1), return_exceptions=True)
    assert ok == 1 and isinstance(bad, ValueError)
    with pytest.raises(RuntimeError, match="exploded"):
        await batcher.submit(99)
    assert await batcher.submit(3) == 3  # the batcher survives a failed batch
    await batcher.close()


async def test_max_size_one_disables_batching() -> None:
    sizes: list[int] = []

    async def process(items: Sequence[int]) -> list[int]:
        sizes.append(len(items))
        return list(items)

    batcher: MicroBatcher[int, int] = MicroBatcher(process, window_s=0.01, max_size=1)
    await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    await batcher.close()
    assert sizes == [1] * 5
