"""Soak benchmark: bounded mixed load on a local suite (user-state + ranker) for N minutes.

    .venv/bin/python -m bench.soak_bench [--minutes 10] [--artifact DIR] [--rps 60]

Starts real processes — user-state (embedded store, sync=full) and the ranker (in-process ONNX encoders) — preloads
users, then drives a fixed-rate mix (per second: Recommend, GetSequences, AppendEvents, and every few seconds
UpsertItems / DeleteItems). Every 5 s it samples each service's RSS (process and children) and the latencies of
the calls that finished. Writes reports/bench/soak.json (RSS growth per service, errors by RPC and status code,
p50/p99 per RPC in the first and the last minute and their drift) and reports/bench/soak.png (RSS and latency
over time).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from PIL import Image
from tqdm import tqdm

from bench.soak_report import MIB, SAMPLE_EVERY_S, plot, print_summary, summarise
from kairos.client import ChannelSettings, KairosError, RankerClient, UserStateClient
from kairos.harness.ports import free_port
from kairos.harness.process import REPO_ROOT, ServerProcess
from kairos.harness.readiness import grpc_serving, wait_until
from kairos.v1 import events_pb2, ranker_pb2, user_state_pb2

T0 = 1_700_000_000_000


def default_artifact() -> Path:
    """artifacts/ml100k-full or artifacts/current, else the newest tiny artifact the tests trained."""
    for name in ("ml100k-full", "current"):
        if (REPO_ROOT / "artifacts" / name / "model.pt").exists():
            return REPO_ROOT / "artifacts" / name
    cached = sorted(
        (
            p
            for p in (REPO_ROOT / "build" / "test-cache" / "ranker-service").glob("tiny-*")
            if (p / "model.pt").exists()
        ),
        key=lambda p: p.stat().st_mtime,
    )
    if cached:
        return cached[-1]
    raise SystemExit("no artifact: pass --artifact DIR (or run the ranker tests once to train the tiny one)")


@dataclass
class Service:
    """A started server process of the suite."""

    name: str
    proc: ServerProcess
    address: str

    def rss_bytes(self) -> int:
        """RSS of the process and its children (encoder worker processes, if any)."""
        try:
            root = psutil.Process(self.proc.pid)
            return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.NoSuchProcess:
            return 0


@contextmanager
def start(name: str, args: list[str], workdir: Path, health_service: str, timeout_s: float) -> Iterator[Service]:
    """Run `python <args> --port P --metrics-port 0` until the block ends (SIGTERM, graceful)."""
    port = free_port()
    proc = ServerProcess([*args, "--port", str(port), "--metrics-port", "0"], workdir / f"{name}.log").start()
    address = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: grpc_serving(address, health_service) or not proc.alive(), timeout_s, name)
        if not proc.alive():
            raise SystemExit(f"{name} exited at start-up:\n{proc.log_text()[-3000:]}")
        yield Service(name, proc, address)
    finally:
        proc.terminate()


@dataclass
class Recorder:
    """Latencies and outcomes of every call, tagged with the window it finished in."""

    started: float = field(default_factory=time.monotonic)
    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    async def timed(self, rpc: str, call: Awaitable[object]) -> None:
        begin = time.monotonic()
        try:
            await call
            code = "OK"
        except KairosError as exc:
            code = exc.code.name
        end = time.monotonic()
        self.codes[rpc][code] += 1
        if code == "OK":
            self.latencies[rpc].append((end - self.started, end - begin))


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(buffer, "JPEG")
    return buffer.getvalue()


class MixedLoad:
    """The request mix, issued at fixed rates with at most `max_in_flight` calls outstanding."""

    def __init__(
        self, user_state: str, ranker: str, item_ids: list[str], users: int, rps: float, max_in_flight: int
    ) -> None:
        # No retries: every failed call is counted under its status code.
        self.us = UserStateClient(ChannelSettings(address=user_state, max_attempts=1))
        self.rk = RankerClient(ChannelSettings(address=ranker, max_attempts=1))
        self.items = item_ids
        self.users = [f"soak-{u}" for u in range(users)]
        self.rps = rps
        self.gate = asyncio.Semaphore(max_in_flight)
        self.recorder = Recorder()
        self.shed = 0
        self._seq = itertools.count()
        self._upserted: list[str] = []
        self._rng = random.Random(7)

    async def close(self) -> None:
        await self.us.close()
        await self.rk.close()

    def _event(self, user: str) -> events_pb2.Event:
        n = next(self._seq)
        return events_pb2.Event(
            event_id=f"e{n}", user_id=user, item_id=self._rng.choice(self.items), timestamp_ms=T0 + n * 1000
        )

    async def preload(self, events_per_user: int) -> None:
        """Give every user a history."""
        for start in tqdm(range(0, len(self.users), 50), desc="preload", unit="batch", leave=False):
            batch = [self._event(u) for u in self.users[start : start + 50] for _ in range(events_per_user)]
            await self.us.append_events(batch, timeout_s=30)

    def _calls(self) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
        """One 'tick' of the mix: 6 Recommend, 2 GetSequences, 2 AppendEvents (10 calls)."""
        rng = self._rng
        user = rng.choice(self.users)
        recommend = ranker_pb2.RecommendRequest(user_id=user, k=20, exclude_seen=True)
        calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("Recommend", lambda r=recommend: self.rk.send(r, timeout_s=2.0)) for _ in range(6)
        ]
        readers = user_state_pb2.GetSequencesRequest(user_ids=rng.sample(self.users, 8))
        calls += [("GetSequences", lambda r=readers: self.us.send(r, timeout_s=2.0))] * 2
        append = user_state_pb2.AppendEventsRequest(events=[self._event(rng.choice(self.users)) for _ in range(5)])
        calls += [("AppendEvents", lambda r=append: self.us.send(r, timeout_s=2.0))] * 2
        return calls

    def _item_calls(self) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
        n = next(self._seq)
        item = ranker_pb2.Item(item_id=f"soak-item-{n}", text=f"soak film {n} drama", image=jpeg(n))
        self._upserted.append(item.item_id)
        calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("UpsertItems", lambda: self.rk.upsert_items([item], timeout_s=30))
        ]
        if len(self._upserted) > 10:  # keep the catalogue bounded: delete the oldest upserted item
            victim = self._upserted.pop(0)
            delete = ranker_pb2.DeleteItemsRequest(item_ids=[victim])
            calls.append(("DeleteItems", lambda: self.rk.send(delete, timeout_s=10)))
        return calls

    async def _launch(self, rpc: str, make: Callable[[], Awaitable[object]], tasks: set[asyncio.Task]) -> None:
        if self.gate.locked():
            self.shed += 1  # bounded load: never queue beyond max_in_flight on the client side
            return

        async def run() -> None:
            async with self.gate:
                await self.recorder.timed(rpc, make())

        task = asyncio.create_task(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def run(self, seconds: float, on_sample: Callable[[float], None], desc: str = "soak") -> None:
        """Issue ticks at rps/10 per second, plus an item upsert every 4 s, sampling every SAMPLE_EVERY_S."""
        tasks: set[asyncio.Task] = set()
        self.recorder = Recorder()
        tick_interval = 10.0 / self.rps
        next_tick = next_item = next_sample = time.monotonic()
        end = next_tick + seconds
        with tqdm(total=round(seconds), desc=desc, unit="s") as bar:
            while (now := time.monotonic()) < end:
                if now >= next_tick:
                    for rpc, make in self._calls():
                        await self._launch(rpc, make, tasks)
                    next_tick += tick_interval
                if now >= next_item:
                    for rpc, make in self._item_calls():
                        await self._launch(rpc, make, tasks)
                    next_item += 4.0
                if now >= next_sample:
                    on_sample(now - self.recorder.started)
                    bar.n = min(round(now - self.recorder.started), bar.total)
                    bar.refresh()
                    next_sample += SAMPLE_EVERY_S
                await asyncio.sleep(max(0.0, min(next_tick, next_item, next_sample) - time.monotonic()))
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        on_sample(time.monotonic() - self.recorder.started)


async def soak(args: argparse.Namespace, services: dict[str, Service], item_ids: list[str]) -> dict:
    load = MixedLoad(
        services["user_state"].address, services["ranker"].address, item_ids, args.users, args.rps, args.max_in_flight
    )
    try:
        await load.preload(args.events_per_user)
        await load.run(
            args.warm_up_s, lambda _t: None, desc="warm-up"
        )  # encoders, caches and the allocator settle first
        rss: dict[str, list[tuple[float, int]]] = {name: [] for name in services}

        def sample(t: float) -> None:
            for name, service in services.items():
                rss[name].append((t, service.rss_bytes()))

        seconds = args.minutes * 60
        await load.run(seconds, sample)
        summary = summarise(load, rss, seconds)
        plot(args.png, rss, load, seconds)
        summary["rss_samples"] = {n: [(round(t, 1), round(v / MIB, 1)) for t, v in s] for n, s in rss.items()}
        return summary
    finally:
        await load.close()


def catalogue_ids(artifact: Path) -> list[str]:
    return [str(i) for i in json.loads((artifact / "item_ids.json").read_text())]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="length of the measured soak (default 10)")
    p.add_argument("--artifact", type=Path, help="ranker model artifact (default: see default_artifact)")
    p.add_argument("--rps", type=float, default=60.0, help="offered calls per second (mix of RPCs)")
    p.add_argument("--max-in-flight", type=int, default=32, help="client-side bound on outstanding calls")
    p.add_argument("--users", type=int, default=500)
    p.add_argument("--events-per-user", type=int, default=20)
    p.add_argument("--warm-up-s", type=float, default=15.0)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench" / "soak.json")
    p.add_argument("--png", type=Path, default=REPO_ROOT / "reports" / "bench" / "soak.png")
    args = p.parse_args(argv)
    artifact = args.artifact or default_artifact()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kairos-soak-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        user_state = stack.enter_context(
            start(
                "user_state",
                ["-m", "user_state", "serve", "--data-dir", str(workdir / "us"), "--sync", "full", "--log-level",
                 "WARNING"],
                workdir, "kairos.v1.UserState", 60,
            )
        )  # fmt: skip
        ranker = stack.enter_context(
            start(
                "ranker",
                ["-m", "ranker", "serve", "--artifact", str(artifact), "--user-state", user_state.address,
                 "--in-process", "--data-dir", str(workdir / "rk"), "--artifact-poll-s", "0", "--log-level", "WARNING"],
                workdir, "kairos.v1.Ranker", 180,
            )
        )  # fmt: skip
        services = {"user_state": user_state, "ranker": ranker}
        summary = asyncio.run(soak(args, services, catalogue_ids(artifact)))
        for service in services.values():
            if not service.proc.alive():
                summary.setdefault("crashed", []).append(service.name)
    result = {
        "config": {
            "minutes": args.minutes,
            "offered_rps": args.rps,
            "max_in_flight": args.max_in_flight,
            "users": args.users,
            "artifact": str(artifact),
            "mix_per_10_calls": {"Recommend": 6, "GetSequences": 2, "AppendEvents": 2},
            "items": "UpsertItems every 4 s (text + JPEG), DeleteItems keeps the newest 10 upserted",
            "cpu_count": psutil.cpu_count(),
        },
        **summary,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_summary(result)
    print(f"wrote {args.out} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
