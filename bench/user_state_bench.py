"""User-state benchmark over gRPC on loopback, both stores, server in a subprocess.

    .venv/bin/python -m bench.user_state_bench [--seconds 1.5] [--rounds 3] [--concurrency 8] [--out FILE]

Measures AppendEvents throughput (events/s, batches of 1 and 100, `--concurrency` calls in flight) and
GetSequences latency (p50/p99, one call at a time, 1 and 64 users holding 50 events each). Each figure is the
median of `--rounds` repetitions. The embedded store
runs with its default sync=full (fsync before every acknowledgement); Redis runs with its defaults (no AOF).
The plain figures run without the event log; `..._with_log` ones against a second server of the same store
writing its default event log (embedded: segment files, fsync per group commit; Redis: the stream, XADD in the
append script), measured in alternating rounds with the plain server so that machine load hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from kairos.client import ChannelSettings, UserStateClient
from kairos.harness.ports import free_port
from kairos.harness.process import REPO_ROOT, ServerProcess
from kairos.harness.readiness import grpc_serving, wait_until
from kairos.harness.redis_server import RedisServer
from kairos.v1 import events_pb2, user_state_pb2

T0 = 1_700_000_000_000
EVENTS_PER_USER = 50
USERS = 2_000


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@contextmanager
def served(store: str, workdir: Path, event_log: str = "none") -> Iterator[str]:
    """Start `python -m user_state serve --store <store>` (and its redis-server); yield its address."""
    redis_server = RedisServer(workdir / "redis").start() if store == "redis" else None
    port = free_port()
    args = ["-m", "user_state", "serve", "--store", store, "--port", str(port), "--metrics-port", "0"]
    args += ["--data-dir", str(workdir / "data"), "--log-level", "WARNING", "--event-log-backend", event_log]
    if redis_server is not None:
        args += ["--redis-url", redis_server.url]
    proc = ServerProcess(args, workdir / f"{store}.log").start()
    address = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: grpc_serving(address), 60, f"{store} server")
        yield address
    finally:
        proc.terminate()
        if redis_server is not None:
            redis_server.stop()


def append_requests(prefix: str, batch: int, count: int) -> list[user_state_pb2.AppendEventsRequest]:
    """`count` ready-made requests of `batch` new events each, spread over 1000 users."""
    requests = []
    for r in range(count):
        events = [
            events_pb2.Event(
                event_id=f"{prefix}-{r}-{k}",
                user_id=f"{prefix}-user-{(r * batch + k) % 1000}",
                item_id=f"item-{(r * 7 + k) % 5000}",
                timestamp_ms=T0 + r * batch + k,
                event_type="click",
            )
            for k in range(batch)
        ]
        requests.append(user_state_pb2.AppendEventsRequest(events=events))
    return requests


async def append_throughput(client: UserStateClient, batch: int, seconds: float, concurrency: int):
    """Events/s appended with `concurrency` calls in flight for about `seconds`."""
    pool = append_requests(f"b{batch}-{random.randrange(10**9)}", batch, max(200, int(40_000 / batch)))
    it = iter(pool)
    done_events = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done_events
        for request in it:
            if time.perf_counter() > deadline:
                return
            reply = await client.send(request, timeout_s=10)
            assert reply.appended == batch, reply
            done_events += batch

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done_events / (time.perf_counter() - start)


async def preload(client: UserStateClient) -> list[str]:
    """USERS users with EVENTS_PER_USER events each; returns their ids."""
    users = [f"reader-{u}" for u in range(USERS)]
    events = [
        events_pb2.Event(event_id=f"r{u}-{n}", user_id=users[u], item_id=f"item-{n}", timestamp_ms=T0 + n * 1000)
        for u in range(USERS)
        for n in range(EVENTS_PER_USER)
    ]
    random.Random(0).shuffle(events)
    for start in tqdm(range(0, len(events), 500), desc="preload", unit="batch", leave=False):
        await client.append_events(events[start : start + 500], timeout_s=30)
    return users


async def read_latencies(client: UserStateClient, users: list[str], per_call: int, calls: int):
    """Latency in ms of `calls` sequential GetSequences calls of `per_call` random users."""
    rng = random.Random(per_call)
    requests = [user_state_pb2.GetSequencesRequest(user_ids=rng.sample(users, per_call)) for _ in range(calls)]
    for request in requests[:50]:  # warm-up: connections, caches
        await client.send(request, timeout_s=5)
    latencies = []
    for request in requests:
        start = time.perf_counter()
        sequences = await client.send(request, timeout_s=5)
        latencies.append((time.perf_counter() - start) * 1000)
        assert len(sequences) == per_call and len(sequences[0]) == EVENTS_PER_USER
    return latencies


async def bench_store(
    store: str, address: str, logged_address: str, seconds: float, concurrency: int, rounds: int
) -> dict[str, float]:
    """Every figure is the median over `rounds` repetitions (the machine may be shared: medians resist bursts)."""
    results: dict[str, float] = {}
    # No retries: every failed call fails the run, as with a plain channel.
    async with (
        UserStateClient(ChannelSettings(address=address, max_attempts=1)) as client,
        UserStateClient(ChannelSettings(address=logged_address, max_attempts=1)) as logged,
    ):
        for warm in (client, logged):  # connections, the writer thread, SQLite pages / Redis scripts
            await append_throughput(warm, 100, 0.3, concurrency)
        for batch in (1, 100):
            rates, logged_rates = [], []
            for _ in range(rounds):  # alternate: load on the machine hits both servers alike
                rates.append(await append_throughput(client, batch, seconds, concurrency))
                logged_rates.append(await append_throughput(logged, batch, seconds, concurrency))
            results[f"append_events_per_s_batch{batch}_{store}"] = round(statistics.median(rates), 1)
            results[f"append_events_per_s_batch{batch}_{store}_with_log"] = round(statistics.median(logged_rates), 1)
        plain, with_log = (results[f"append_events_per_s_batch100_{store}{s}"] for s in ("", "_with_log"))
        results[f"append_with_log_ratio_batch100_{store}"] = round(with_log / plain, 3)
        users = await preload(client)
        for per_call, calls in ((1, 1000), (64, 500)):
            runs = [await read_latencies(client, users, per_call, calls) for _ in range(rounds)]
            p50 = statistics.median(statistics.median(latencies) for latencies in runs)
            p99 = statistics.median(percentile(latencies, 99) for latencies in runs)
            results[f"get_sequences_{per_call}_p50_ms_{store}"] = round(p50, 3)
            results[f"get_sequences_{per_call}_p99_ms_{store}"] = round(p99, 3)
    return results


def table(results: dict[str, float], stores: list[str]) -> str:
    rows: list[tuple[str, Callable[[str], str]]] = [
        ("AppendEvents events/s, batch 1", lambda s: f"append_events_per_s_batch1_{s}"),
        ("AppendEvents events/s, batch 100", lambda s: f"append_events_per_s_batch100_{s}"),
        ("  with the event log, batch 1", lambda s: f"append_events_per_s_batch1_{s}_with_log"),
        ("  with the event log, batch 100", lambda s: f"append_events_per_s_batch100_{s}_with_log"),
        ("GetSequences 1 user p50 ms", lambda s: f"get_sequences_1_p50_ms_{s}"),
        ("GetSequences 1 user p99 ms", lambda s: f"get_sequences_1_p99_ms_{s}"),
        ("GetSequences 64 users p50 ms", lambda s: f"get_sequences_64_p50_ms_{s}"),
        ("GetSequences 64 users p99 ms", lambda s: f"get_sequences_64_p99_ms_{s}"),
    ]
    lines = [f"{'metric':<34}" + "".join(f"{s:>14}" for s in stores)]
    lines += [f"{label:<34}" + "".join(f"{results[key(s)]:>14,.3f}" for s in stores) for label, key in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=1.5, help="duration of each append measurement round")
    p.add_argument("--rounds", type=int, default=3, help="repetitions of every measurement; medians are reported")
    p.add_argument("--concurrency", type=int, default=8, help="AppendEvents calls in flight")
    p.add_argument("--stores", nargs="+", default=["embedded", "redis"], choices=["embedded", "redis"])
    p.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench" / "user_state.json")
    args = p.parse_args(argv)
    # Context for reading the figures: other work on the machine skews tail latencies.
    results: dict[str, float] = {
        "cpu_count": float(os.cpu_count() or 0),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "append_concurrency": float(args.concurrency),
        "rounds": float(args.rounds),
    }
    default_log = {"embedded": "segments", "redis": "redis_stream"}
    for store in args.stores:
        with (
            tempfile.TemporaryDirectory(prefix=f"user-state-bench-{store}-") as tmp,
            served(store, Path(tmp) / "plain") as addr,
            served(store, Path(tmp) / "logged", default_log[store]) as logged_addr,
        ):
            print(f"benchmarking the {store} store at {addr} (with the event log: {logged_addr}) ...", file=sys.stderr)
            results.update(
                asyncio.run(bench_store(store, addr, logged_addr, args.seconds, args.concurrency, args.rounds))
            )
    print(table(results, args.stores))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
