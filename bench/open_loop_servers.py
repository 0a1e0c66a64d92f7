"""The servers of the open-loop benchmark: a user-state seeded with real histories and a ranker per catalogue size."""

from __future__ import annotations

import csv
import random
import time
from dataclasses import dataclass
from pathlib import Path

from bench.open_loop_metrics import scrape
from kairos.harness.ports import free_port
from kairos.harness.process import ServerProcess
from kairos.harness.readiness import grpc_serving, wait_until

HISTORY_EVENTS = 50  # the served model's max_len


QUIET_ENV = {"KAIROS_RANKER_ENCODER_WARM_UP": "false"}  # Recommend-only: the encoders are never loaded


@dataclass
class Ranker:
    """A started ranker: its process, gRPC address, /metrics URL and seconds from start to SERVING."""

    proc: ServerProcess
    address: str
    metrics_url: str
    serving_s: float


@dataclass
class RankerGroup:
    """``replicas`` rankers serving the same catalogue, called as one gRPC target: the client balances its calls
    over them (round_robin), as a caller of a Kubernetes headless service does. One replica is a plain ranker."""

    replicas: list[Ranker]

    @property
    def address(self) -> str:
        """A gRPC target: the one address, or ``ipv4:`` and every replica's address (for round_robin)."""
        if len(self.replicas) == 1:
            return self.replicas[0].address
        return "ipv4:" + ",".join(r.address for r in self.replicas)

    @property
    def pids(self) -> list[int]:
        return [r.proc.pid for r in self.replicas]

    @property
    def serving_s(self) -> float:
        """Seconds until the last replica was SERVING (they start one after the other)."""
        return sum(r.serving_s for r in self.replicas)

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every replica's /metrics samples, summed by (name, labels): counters and histograms add up."""
        total: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for r in self.replicas:
            for key, value in scrape(r.metrics_url).items():
                total[key] = total.get(key, 0.0) + value
        return total

    def terminate(self) -> None:
        for r in self.replicas:
            r.proc.terminate()


def start_rankers(
    workdir: Path,
    name: str,
    artifact: Path,
    user_state: str,
    synthetic: int,
    env: dict[str, str] | None = None,
    replicas: int = 1,
) -> RankerGroup:
    """``replicas`` rankers (:func:`start_ranker`), each with the same synthetic catalogue (seeded)."""
    started: list[Ranker] = []
    try:
        for i in range(replicas):
            replica = name if replicas == 1 else f"{name}-{i}"
            started.append(start_ranker(workdir, replica, artifact, user_state, synthetic, env))
    except BaseException:
        for r in started:
            r.proc.terminate()
        raise
    return RankerGroup(started)


def start_user_state(workdir: Path) -> tuple[ServerProcess, str]:
    port = free_port()
    args = ["-m", "user_state", "serve", "--store", "embedded", "--port", str(port), "--metrics-port", "0"]
    args += ["--data-dir", str(workdir / "user-state"), "--sync", "normal", "--log-level", "WARNING"]
    proc = ServerProcess(args, workdir / "user-state.log").start()
    address = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(address) or not proc.alive(), 60, "user-state server")
    if not proc.alive():
        raise RuntimeError(f"user-state died:\n{proc.log_text()[-3000:]}")
    return proc, address


def start_ranker(
    workdir: Path, name: str, artifact: Path, user_state: str, synthetic: int, env: dict[str, str] | None = None
) -> Ranker:
    """`python -m bench.ranker_server` with ``synthetic`` extra items (and ``env``); returns once SERVING."""
    port, metrics_port = free_port(), free_port()
    args = ["-m", "bench.ranker_server", "--synthetic-items", str(synthetic), "serve", "--artifact", str(artifact)]
    args += ["--user-state", user_state, "--port", str(port), "--metrics-port", str(metrics_port)]
    args += ["--artifact-poll-s", "0", "--data-dir", str(workdir / name), "--log-level", "WARNING"]
    start = time.perf_counter()
    proc = ServerProcess(args, workdir / f"{name}.log", env={**QUIET_ENV, **(env or {})}).start()
    address = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(address, timeout_s=0.2) or not proc.alive(), 1800, f"ranker {name}", 0.02)
    serving_s = time.perf_counter() - start
    if not proc.alive():
        raise RuntimeError(f"ranker {name} died:\n{proc.log_text()[-3000:]}")
    return Ranker(proc, address, f"http://127.0.0.1:{metrics_port}/metrics", serving_s)


def real_histories(data_dir: Path, known: set[str], events: int = HISTORY_EVENTS) -> dict[str, list[tuple[str, int]]]:
    """Each ML-100k user's last ``events`` interactions with items in ``known``: user -> [(item, ms)], oldest
    first (file order breaks timestamp ties, as the dataset's README says). Empty when the file is absent."""
    path = data_dir / "interactions.csv"
    if not path.exists():
        return {}
    out: dict[str, list[tuple[str, int]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["item_id"] in known:
                out.setdefault(row["user_id"], []).append((row["item_id"], int(row["timestamp"]) * 1000))
    return {user: history[-events:] for user, history in out.items() if history}


def random_histories(items: list[str], users: int = 512, events: int = HISTORY_EVENTS) -> dict[str, list]:
    """Fallback without the dataset: ``users`` users with ``events`` random real items a minute apart."""
    rng, t0 = random.Random(0), 1_700_000_000_000
    return {str(u): [(rng.choice(items), t0 + j * 60_000) for j in range(events)] for u in range(users)}


async def seed_user_state(address: str, histories: dict[str, list[tuple[str, int]]], batch: int = 1000) -> int:
    """Append every history to user-state (``batch`` events per call); the number of events."""
    import grpc

    from kairos.v1 import events_pb2, user_state_pb2, user_state_pb2_grpc

    events = [
        events_pb2.Event(event_id=f"ml-{user}-{j}", user_id=f"user-{user}", item_id=item, timestamp_ms=stamp)
        for user, history in histories.items()
        for j, (item, stamp) in enumerate(history)
    ]
    async with grpc.aio.insecure_channel(address) as channel:
        stub = user_state_pb2_grpc.UserStateStub(channel)
        for i in range(0, len(events), batch):
            await stub.AppendEvents(user_state_pb2.AppendEventsRequest(events=events[i : i + batch]), timeout=30)
    return len(events)


def workload_json(histories: dict[str, list[tuple[str, int]]], items: list[str], fresh_share: float) -> dict:
    """The generators' workload (bench/open_loop_client.Workload): users in a shuffled fixed order, each asked
    for one hour after their last event; fresh events over the artifact's items."""
    users = sorted(histories)
    random.Random(1).shuffle(users)
    last = [histories[u][-1][1] for u in users]
    return {
        "user_ids": [f"user-{u}" for u in users],
        "request_time_ms": [t + 3_600_000 for t in last],
        "last_event_ms": last,
        "fresh_items": items,
        "fresh_share": fresh_share,
        "k": 10,
    }


# --- metrics -----------------------------------------------------------------------------------------------------
