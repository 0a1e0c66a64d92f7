"""The ranker benchmark's load: the Recommend calls it makes, a closed-loop throughput run and an open-loop rate."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass

from bench.catalogue import T0
from kairos.client import ChannelSettings, KairosError, RankerClient
from kairos.v1 import events_pb2, ranker_pb2

GOLDEN = 0.6180339887498949


USERS = 512


EVENTS_PER_USER = 50


def plain(address: str) -> ChannelSettings:
    """A plaintext channel without retries: every failed call is counted."""
    return ChannelSettings(address=address, max_attempts=1)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass(frozen=True)
class Workload:
    """What the load generator asks: ``fresh_share`` of the calls carry a new inline event (the user acted since
    the last call, so the ranker's history-state cache cannot help); the rest repeat a known history."""

    item_ids: tuple[str, ...]
    fresh_share: float = 0.0

    def request(self, n: int, k: int = 10) -> ranker_pb2.RecommendRequest:
        request_time = T0 + EVENTS_PER_USER * 60_000 + 3_600_000
        request = ranker_pb2.RecommendRequest(user_id=f"user-{n % USERS}", k=k, request_time_ms=request_time)
        if (n * GOLDEN) % 1.0 < self.fresh_share:  # an even spread of fresh calls over n
            item = self.item_ids[n % len(self.item_ids)]
            event = events_pb2.Event(event_id=f"live-{n}", item_id=item, timestamp_ms=request_time - 1_000 - n)
            request.recent_events.append(event)
        return request


async def max_throughput(address: str, seconds: float, concurrency: int, workload: Workload) -> tuple[float, int]:
    """Closed loop: `concurrency` callers sending Recommend back to back; (requests/s, failures)."""
    done, failures = 0, 0
    async with RankerClient(plain(address), timeout_s=10) as ranker:

        async def caller(c: int, until: float, record: bool) -> None:
            nonlocal done, failures
            n = c
            while time.perf_counter() < until:
                try:
                    await ranker.send(workload.request(n))
                    done += record
                except KairosError:
                    failures += 1
                n += concurrency

        warm = time.perf_counter() + 1.5
        await asyncio.gather(*(caller(c, warm, False) for c in range(concurrency)))
        start = time.perf_counter()
        await asyncio.gather(*(caller(c, start + seconds, True) for c in range(concurrency)))
        return done / (time.perf_counter() - start), failures


async def latency_at(address: str, rate: float, seconds: float, workload: Workload) -> tuple[list[float], int]:
    """Open loop: Recommend sent at a fixed `rate` per second (as production traffic arrives); latencies."""
    latencies: list[float] = []
    failures = 0
    async with RankerClient(plain(address), timeout_s=10) as ranker:

        async def one(n: int) -> None:
            nonlocal failures
            start = time.perf_counter()
            try:
                await ranker.send(workload.request(n))
                latencies.append(time.perf_counter() - start)
            except KairosError as exc:
                failures += 1
                print(f"open-loop Recommend failed: {exc.code.name} {exc.message}", file=sys.stderr)

        tasks = []
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    return latencies, failures
