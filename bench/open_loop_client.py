"""The open-loop load generator of bench/open_loop.py: one fixed rate of Recommend calls, run in its own process.

    .venv/bin/python -m bench.open_loop_client --address HOST:PORT --workload workload.json --rate 500 \
        --seconds 15 [--warmup-s 2] [--run-id 0] [--out result.json]

Open loop: call n is due at ``n / rate`` seconds after the start, fixed in advance; each call is launched when it
is due whether or not earlier calls have returned (many in flight on one grpc.aio channel), and its latency is
measured from that scheduled time, so time spent queueing (in the server, or in this generator when it falls
behind) counts: no coordinated omission. Calls due in the first ``--warmup-s`` seconds are sent but not counted.
``fresh_share`` of the calls (an even spread) carry a new inline recent_event, unique per (run id, call), so the
ranker's history-state cache cannot have seen that history. Summary (JSON on stdout and in ``--out``):
offered and achieved requests/s, p50/p90/p99/p99.9/max latency, errors by status code, how late the generator
launched calls (``send_lag_*``: large values mean the generator, not the server, was the bottleneck).
bench/js/open_loop.js is the same generator on grpc-js (Node), reading the same workload file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kairos.v1 import ranker_pb2

GOLDEN = 0.6180339887498949
CLIENT = "python grpcio aio"


@dataclass
class Outcomes:
    """Per call, in seconds from the schedule's start: when it was due, launched and finished, and its error
    (None = OK)."""

    scheduled: list[float]
    sent: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    max_in_flight: int = 0


def error_name(exc: BaseException) -> str:
    """A gRPC status code name (``UNAVAILABLE``, ...) or, for any other failure, the exception's type."""
    code = getattr(exc, "code", None)
    if callable(code):
        try:
            return str(code().name)
        except Exception:  # pragma: no cover - a foreign object with a code() that is not a status
            pass
    return type(exc).__name__


async def open_loop(
    send: Callable[[int], Awaitable[object]],
    rate: float,
    count: int,
    clock: Callable[[], float] = time.perf_counter,
) -> Outcomes:
    """Launch ``send(n)`` at ``n / rate`` s for n < count, never waiting for earlier calls; await them all.

    Launches are driven by the schedule alone: a slow ``send`` only raises the number in flight. When this loop
    is late (a busy CPU), every call already due is launched at once and its lateness shows in ``sent``.
    """
    out = Outcomes(scheduled=[n / rate for n in range(count)])
    out.sent, out.done, out.errors = [math.nan] * count, [math.nan] * count, [None] * count
    in_flight = 0
    start = clock()

    async def one(n: int) -> None:
        nonlocal in_flight
        out.sent[n] = clock() - start
        in_flight += 1
        out.max_in_flight = max(out.max_in_flight, in_flight)
        try:
            await send(n)
        except Exception as exc:
            out.errors[n] = error_name(exc)
        finally:
            in_flight -= 1
            out.done[n] = clock() - start

    tasks: list[asyncio.Task[None]] = []
    n = 0
    while n < count:
        now = clock() - start
        while n < count and out.scheduled[n] <= now:
            tasks.append(asyncio.create_task(one(n)))
            n += 1
        if n < count:
            await asyncio.sleep(max(0.0, out.scheduled[n] - (clock() - start)))
    await asyncio.gather(*tasks)
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in 0..100 (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def summarise(out: Outcomes, rate: float, warmup_s: float, client: str = CLIENT) -> dict[str, object]:
    """Latency from the scheduled send time (ms) of the calls due after ``warmup_s``; requests/s and errors.
    Percentiles of no calls are None."""
    counted = [n for n, due in enumerate(out.scheduled) if due >= warmup_s]
    ok = [n for n in counted if out.errors[n] is None]
    latencies = [(out.done[n] - out.scheduled[n]) * 1000 for n in ok]
    lags = [(out.sent[n] - out.scheduled[n]) * 1000 for n in counted]
    codes: dict[str, int] = {}
    for n in counted:
        if out.errors[n] is not None:
            codes[str(out.errors[n])] = codes.get(str(out.errors[n]), 0) + 1
    span = max((out.done[n] for n in ok), default=warmup_s) - (out.scheduled[counted[0]] if counted else warmup_s)
    summary: dict[str, object] = {
        "client": client,
        "offered_rps": rate,
        "seconds": (len(counted) / rate) if rate else 0.0,
        "requests": len(counted),
        "ok": len(ok),
        "errors": len(counted) - len(ok),
        "error_codes": codes,
        "achieved_rps": len(ok) / span if span > 0 else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "p999_ms": percentile(latencies, 99.9),
        "max_ms": max(latencies, default=math.nan),
        "mean_ms": sum(latencies) / len(latencies) if latencies else math.nan,
        "send_lag_p99_ms": percentile(lags, 99),
        "send_lag_max_ms": max(lags, default=math.nan),
        "max_in_flight": out.max_in_flight,
    }
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in summary.items()}


@dataclass(frozen=True)
class Workload:
    """The calls both generators make (a JSON file written by bench/open_loop.py): users in a fixed order, each
    with the request time to recommend for and the time of their last stored event; items for fresh events."""

    user_ids: list[str]
    request_time_ms: list[int]
    last_event_ms: list[int]
    fresh_items: list[str]
    fresh_share: float
    k: int = 10

    @classmethod
    def load(cls, path: Path) -> Workload:
        return cls(**json.loads(path.read_text()))

    def is_fresh(self, n: int) -> bool:
        """Whether call n carries a new event: an even spread of ``fresh_share`` of the calls."""
        return (n * GOLDEN) % 1.0 < self.fresh_share

    def fresh_event(self, n: int, run_id: int) -> tuple[str, str, int]:
        """(event id, item id, timestamp ms) of call n's new event: between the user's last stored event and the
        request time, distinct per (run id, n) so no two runs send the same history."""
        u = n % len(self.user_ids)
        gap = max(1, self.request_time_ms[u] - self.last_event_ms[u] - 1)
        stamp = self.last_event_ms[u] + 1 + (run_id * 1_000_003 + n * 7_919) % gap
        item = self.fresh_items[(n * 31 + run_id * 17) % len(self.fresh_items)]
        return f"live-{run_id}-{n}", item, stamp

    def request(self, n: int, run_id: int = 0) -> ranker_pb2.RecommendRequest:
        """Call n of run ``run_id``: user n mod users, with a fresh event when :meth:`is_fresh`."""
        from kairos.v1 import events_pb2, ranker_pb2

        u = n % len(self.user_ids)
        request = ranker_pb2.RecommendRequest(user_id=self.user_ids[u], k=self.k,
                                              request_time_ms=self.request_time_ms[u])  # fmt: skip
        if self.is_fresh(n):
            event_id, item, stamp = self.fresh_event(n, run_id)
            request.recent_events.append(events_pb2.Event(event_id=event_id, item_id=item, timestamp_ms=stamp))
        return request


async def run(
    address: str, workload: Workload, rate: float, seconds: float, warmup_s: float, run_id: int, timeout_s: float
) -> dict[str, object]:
    """One open-loop run against the ranker at ``address``; the summary of :func:`summarise`."""
    import grpc

    from kairos.v1 import ranker_pb2_grpc

    count = max(1, round(rate * (warmup_s + seconds)))
    requests = [workload.request(n, run_id) for n in range(count)]  # built up front: not on the send path
    gc.collect()
    gc.freeze()  # no full collections of the set-up heap while measuring (the servers do the same)
    # several replicas ("ipv4:a,b"): calls are spread over them, one after the other
    options = [("grpc.lb_policy_name", "round_robin")]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = ranker_pb2_grpc.RankerStub(channel)
        await channel.channel_ready()

        async def send(n: int) -> object:
            return await stub.Recommend(requests[n], timeout=timeout_s)

        out = await open_loop(send, rate, count)
    result = summarise(out, rate, warmup_s)
    result["fresh_share"] = sum(workload.is_fresh(n) for n in range(count)) / count
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--address", required=True)
    p.add_argument("--workload", type=Path, required=True)
    p.add_argument("--rate", type=float, required=True, help="Recommend calls per second")
    p.add_argument("--seconds", type=float, default=15.0, help="measured seconds")
    p.add_argument("--warmup-s", type=float, default=2.0, help="seconds at the same rate sent before, not counted")
    p.add_argument("--run-id", type=int, default=0, help="makes this run's fresh events new to the ranker")
    p.add_argument("--timeout-s", type=float, default=5.0, help="deadline of each call")
    p.add_argument("--fresh-share", type=float, help="override the workload's share of calls with a new event")
    p.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = p.parse_args(argv)
    workload = Workload.load(args.workload)
    if args.fresh_share is not None:
        workload = dataclasses.replace(workload, fresh_share=args.fresh_share)
    result = asyncio.run(
        run(args.address, workload, args.rate, args.seconds, args.warmup_s, args.run_id,
            args.timeout_s)
    )  # fmt: skip
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
