"""Concurrent AppendEvents writers that record exactly which events were acknowledged."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc

from kairos.service.channel import ChannelSettings
from user_state.client import UserStateClient
from user_state.events import Event

T0 = 1_700_000_000_000


@dataclass
class WriteLog:
    """What the writers saw: acknowledged event ids per user, failures by status code and their latencies."""

    acknowledged: dict[str, list[str]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    failure_latencies_s: list[float] = field(default_factory=list)

    @property
    def acknowledged_count(self) -> int:
        return sum(len(v) for v in self.acknowledged.values())

    def users(self) -> list[str]:
        return sorted(self.acknowledged)


def batch(worker: int, n: int, size: int, users_per_worker: int) -> list[Event]:
    """Batch `n` of `worker`: `size` events spread over the worker's users, timestamps strictly increasing."""
    return [
        Event(f"w{worker}-{n}-{k}", f"user-{worker}-{(n + k) % users_per_worker}", f"item-{k}", T0 + n * size + k)
        for k in range(size)
    ]


async def write_until(
    address: str,
    worker: int,
    log: WriteLog,
    stop: asyncio.Event,
    *,
    batch_size: int = 5,
    users_per_worker: int = 3,
    timeout_s: float = 5.0,
    stop_on_error: bool = True,
) -> None:
    """Append batches on an own channel until `stop` is set; only an OK reply counts as acknowledged."""
    async with UserStateClient(ChannelSettings(address=address, max_attempts=1), default_timeout_s=timeout_s) as client:
        n = 0
        while not stop.is_set():
            events = batch(worker, n, batch_size, users_per_worker)
            n += 1
            started = time.monotonic()
            try:
                await client.append_events(events)
            except grpc.aio.AioRpcError as exc:
                log.failures[exc.code().name] += 1
                log.failure_latencies_s.append(time.monotonic() - started)
                if stop_on_error:
                    return
                await asyncio.sleep(0.05)
                continue
            for e in events:
                log.acknowledged.setdefault(e.user_id, []).append(e.event_id)


async def stored_ids(address: str, users: list[str]) -> set[tuple[str, str]]:
    """(user_id, event_id) of every stored event of `users`."""
    async with UserStateClient(address, default_timeout_s=30) as client:
        sequences = await client.get_sequences(users)
    return {(e.user_id, e.event_id) for seq in sequences for e in seq}


def lost_events(log: WriteLog, stored: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Acknowledged events that are not stored."""
    return [(u, e) for u, ids in log.acknowledged.items() for e in ids if (u, e) not in stored]
