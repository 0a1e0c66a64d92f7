"""Open-loop Recommend benchmark: fixed offered rates, latency percentiles and errors per rate, memory and start-up.

    .venv/bin/python -m bench.open_loop [--artifact DIR] [--sizes 10k 100k 1m] [--seconds 15] [--quick]
                                        [--rates 100k=20,100,1000 ...] [--out-dir reports/bench]

Servers: one user-state (embedded store) seeded with real ML-100k histories (each user's last 50 events, from
the dataset the artifact was trained on; random real items when it is absent), and per catalogue size a fresh
ranker (bench/ranker_server.py: the artifact's items plus synthetic variations of them up to the size, default
settings, i.e. exact scoring up to 200k items and the ANN above). Per size: seconds from process start to gRPC
health SERVING (model load and index build included; the encoders are not warmed, Recommend never needs them)
and the ranker's RSS then and after the load (and its peak, VmHWM).
Load: per offered rate a separate load-generator process (bench/open_loop_client.py, grpc.aio) sends Recommend
on a fixed schedule, latency counted from each call's scheduled send time (no coordinated omission), with
``--fresh-event-share`` (0.2) of the calls carrying a new inline event (a history-cache miss). Every user is
asked once, without new events, before the first rate (the cache holds each stored history, as in steady state).
Per rate: offered and achieved requests/s, p50/p99/p99.9, errors, and the ranker's own stage breakdown (the
difference of /metrics scraped before and after the generator's run, its warm-up included:
``kairos_ranker_recommend_stage_seconds``, server-side Recommend latency, batch sizes, history-cache hits).
Higher rates at a size are skipped once one has p99 above ``--stop-p99-ms`` or more than 5% errors.
``max_rps_p99_50ms_<size>``: the highest rate tested with p99 <= 50 ms and no errors.
One row is repeated with bench/js/open_loop.js (grpc-js on Node) when `node` and bench/js/node_modules exist
(`npm ci --prefix bench/js`), to show whether the Python generator limits the figures.
ANN recall@10 at 1M against exact float32 scoring: bench/ranker_bench.py's recall_at_10 (same vectors as served).
Writes ``open_loop.json``, ``open_loop.md`` and ``open_loop.png`` (``--name``) under ``--out-dir`` and merges the
headline keys into ``--ranker-json`` (other keys kept). ``--ranker-env KEY=VALUE`` runs the rankers with extra
environment variables (e.g. a setting to compare; recorded in the report). The load generator shares the machine
with the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from kairos.harness.ports import free_port
from kairos.harness.process import REPO_ROOT, ServerProcess
from kairos.harness.readiness import grpc_serving, wait_until

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
DEFAULT_SIZES = ("10k", "100k", "1m")
DEFAULT_RATES = {
    "10k": (20, 500, 1000, 1500, 2000),
    "100k": (20, 100, 250, 500, 1000, 1500, 2000),
    "1m": (20, 100, 250, 500, 750, 1000),
}
QUICK_RATES = {"10k": (20, 500), "100k": (20, 500, 1000), "1m": (20, 500)}
HISTORY_EVENTS = 50  # the served model's max_len
P99_TARGET_MS = 50.0
QUIET_ENV = {"KAIROS_RANKER_ENCODER_WARM_UP": "false"}  # Recommend-only: the encoders are never loaded
STAGE_METRIC = "kairos_ranker_recommend_stage_seconds"
JS_DIR = REPO_ROOT / "bench" / "js"


def parse_size(name: str) -> int:
    """'10k' -> 10000, '1m' -> 1000000, '2500' -> 2500."""
    name = name.lower()
    if name in SIZES:
        return SIZES[name]
    scale = {"k": 1_000, "m": 1_000_000}.get(name[-1], 1)
    return int(float(name.rstrip("km")) * scale)


# --- servers -----------------------------------------------------------------------------------------------------


@dataclass
class Ranker:
    """A started ranker: its process, gRPC address, /metrics URL and seconds from start to SERVING."""

    proc: ServerProcess
    address: str
    metrics_url: str
    serving_s: float


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


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident set now and its peak (VmHWM), MiB."""
    out = {"rss_mb": psutil.Process(pid).memory_info().rss / 2**20}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["peak_rss_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


# --- users and workload ------------------------------------------------------------------------------------------


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


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus /metrics page: (name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def histogram_delta(before: dict, after: dict, name: str, **labels: str) -> tuple[list[tuple[float, float]], float]:
    """Cumulative (upper bound, count) buckets and the sum of histogram ``name`` (with ``labels``) between two
    scrapes."""
    want = set(labels.items())
    buckets, total = [], 0.0
    for (sample, sample_labels), value in after.items():
        if not want <= set(sample_labels):
            continue
        delta = value - before.get((sample, sample_labels), 0.0)
        if sample == f"{name}_bucket":
            buckets.append((float(dict(sample_labels)["le"]), delta))
        elif sample == f"{name}_sum":
            total = delta
    return sorted(buckets), total


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Quantile q (0..1) of cumulative buckets, interpolated within the bucket as Prometheus does."""
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = upper, count
    return lower


def counter_delta(before: dict, after: dict, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == name and want <= set(k[1]))


def breakdown(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """Per Recommend stage (and server-side Recommend latency): observations, mean / p50 / p99 ms; plus batch size
    and history-cache hits. Stage p50/p99 are bucket estimates."""
    from ranker.service.metrics import RECOMMEND_STAGES

    out: dict[str, dict[str, float]] = {}
    series = [(stage, STAGE_METRIC, {"stage": stage}) for stage in RECOMMEND_STAGES]
    series.append(("server_total", "kairos_rpc_latency_seconds", {"method": "Recommend"}))
    for key, name, labels in series:
        buckets, total = histogram_delta(before, after, name, **labels)
        count = buckets[-1][1] if buckets else 0.0
        out[key] = {
            "count": count,
            "mean_ms": total / count * 1000 if count else math.nan,
            "p50_ms": bucket_quantile(buckets, 0.5) * 1000,
            "p99_ms": bucket_quantile(buckets, 0.99) * 1000,
        }
    batches, requests = histogram_delta(before, after, "kairos_ranker_batch_size")
    hits = counter_delta(before, after, "kairos_ranker_history_cache_total", result="hit")
    misses = counter_delta(before, after, "kairos_ranker_history_cache_total", result="miss")
    n = batches[-1][1] if batches else 0.0
    out["batching"] = {
        "batches": n,
        "mean_batch_size": requests / n if n else math.nan,
        "history_cache_hits": hits,
        "history_cache_misses": misses,
        "history_cache_miss_share": misses / (hits + misses) if hits + misses else math.nan,
    }
    return out


class CpuMeter:
    """Cores used on average between two snapshots: by the ranker, the user-state, the load generator (this
    process's finished children), and by everything else on the machine (``other``: other people's work)."""

    def __init__(self, ranker_pid: int, user_state_pid: int) -> None:
        self.ranker, self.user_state, self.me = (
            psutil.Process(ranker_pid),
            psutil.Process(user_state_pid),
            psutil.Process(),
        )

    @staticmethod
    def _used(p: psutil.Process) -> float:
        t = p.cpu_times()
        return t.user + t.system

    def snapshot(self) -> tuple[float, ...]:
        t = psutil.cpu_times()
        busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (time.perf_counter(), busy, self._used(self.ranker), self._used(self.user_state),
                children.ru_utime + children.ru_stime, self._used(self.me), getattr(t, "steal", 0.0))  # fmt: skip

    def cores(self, before: tuple[float, ...], after: tuple[float, ...]) -> dict[str, float]:
        wall, busy, ranker, user_state, generator, me, steal = (a - b for a, b in zip(after, before, strict=True))
        other = busy - ranker - user_state - generator - me
        return {
            "ranker": ranker / wall,
            "user_state": user_state / wall,
            "generator": generator / wall,
            "other": max(0.0, other) / wall,
            "steal": steal / wall,
        }


# --- load --------------------------------------------------------------------------------------------------------


def js_available() -> str | None:
    """None when the grpc-js row can run, else why not."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (JS_DIR / "node_modules" / "@grpc" / "grpc-js").exists():
        return "bench/js/node_modules is missing (run `npm ci --prefix bench/js`)"
    return None


def run_generator(
    client: str,
    address: str,
    workload: Path,
    rate: float,
    seconds: float,
    warmup_s: float,
    run_id: int,
    fresh_share: float | None = None,
) -> dict:
    """One open-loop run in a separate process (``client``: 'python' or 'node'); its JSON summary.
    ``fresh_share`` overrides the workload's."""
    flags = ["--address", address, "--workload", str(workload), "--rate", str(rate), "--seconds", str(seconds)]
    flags += ["--warmup-s", str(warmup_s), "--run-id", str(run_id)]
    if fresh_share is not None:
        flags += ["--fresh-share", str(fresh_share)]
    if client == "node":
        command = ["node", str(JS_DIR / "open_loop.js"), *flags]
    else:
        command = [sys.executable, "-m", "bench.open_loop_client", *flags]
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=warmup_s + seconds + 120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{client} load generator failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def passes(row: dict, p99_ms: float = P99_TARGET_MS) -> bool:
    return row.get("errors", 1) == 0 and row.get("p99_ms") is not None and row["p99_ms"] <= p99_ms


def max_rate(rows: list[dict], p99_ms: float = P99_TARGET_MS) -> float:
    """The highest offered rate whose p99 <= ``p99_ms`` with no errors (0 when none)."""
    return max((row["offered_rps"] for row in rows if passes(row, p99_ms)), default=0.0)


@dataclass
class Plan:
    """What to run: sizes, rates per size, seconds per rate, and the grpc-js row."""

    sizes: list[str]
    rates: dict[str, list[float]]
    seconds: float
    warmup_s: float
    fresh_share: float
    stop_p99_ms: float
    js_size: str | None
    js_rate: float
    recall_users: int
    ranker_env: dict[str, str]


def measured_run(
    client: str, ranker: Ranker, cpu: CpuMeter, workload: Path, rate: float, plan: Plan, run_id: int
) -> dict:
    """One generator run with the ranker's stage breakdown, the cores each party used and the load average."""
    load = os.getloadavg()[0]
    before, cpu_before = scrape(ranker.metrics_url), cpu.snapshot()
    row = run_generator(client, ranker.address, workload, rate, plan.seconds, plan.warmup_s, run_id)
    row["cpu_cores"] = cpu.cores(cpu_before, cpu.snapshot())
    row["stages"] = breakdown(before, scrape(ranker.metrics_url))
    row["load_average_1m_before"] = load
    return row


def measure_size(
    name: str,
    plan: Plan,
    workdir: Path,
    artifact: Path,
    user_state: tuple[ServerProcess, str],
    workload: Path,
    real_items: int,
    run_id: int,
) -> dict:
    """Start a ranker at this size, measure start-up and memory, then every rate; stop it."""
    n = parse_size(name)
    busy = busy_processes()
    print(f"[{name}] other processes using CPU: {busy or 'none'}; starting the ranker with {n:,} items ...", flush=True)
    ranker = start_ranker(workdir, f"ranker-{name}", artifact, user_state[1], max(0, n - real_items), plan.ranker_env)
    result: dict = {"items": max(n, real_items), "time_to_serving_s": ranker.serving_s, "busy_at_start": busy}
    try:
        cpu = CpuMeter(ranker.proc.pid, user_state[0].pid)
        result["memory_at_serving"] = memory_mb(ranker.proc.pid)
        print(f"[{name}] SERVING after {ranker.serving_s:.1f} s, RSS {result['memory_at_serving']}", flush=True)
        users = len(json.loads(workload.read_text())["user_ids"])
        run_generator("python", ranker.address, workload, 200, users / 200, 0, run_id, 0.0)  # each stored history
        rows: list[dict] = []
        skip_reason = None
        for rate in plan.rates[name]:
            run_id += 1
            if skip_reason:
                rows.append({"offered_rps": rate, "skipped": skip_reason})
                continue
            row = measured_run("python", ranker, cpu, workload, rate, plan, run_id)
            rows.append(row)
            print(f"[{name}] {row_line(row)}", flush=True)
            if row["p99_ms"] is None or row["p99_ms"] > plan.stop_p99_ms or row["errors"] > 0.05 * row["requests"]:
                skip_reason = f"not run: {rate:g}/s already had p99 > {plan.stop_p99_ms:g} ms or > 5% errors"
            time.sleep(1.0)  # let queues drain between rates
        result["rates"] = rows
        if plan.js_size == name:
            reason = js_available()
            if reason is None:
                run_id += 1
                row = measured_run("node", ranker, cpu, workload, plan.js_rate, plan, run_id)
                print(f"[{name}] grpc-js: {row_line(row)}", flush=True)
                result["js"] = row
            else:
                result["js"] = {"offered_rps": plan.js_rate, "skipped": reason}
                print(f"[{name}] grpc-js row skipped: {reason}", flush=True)
        result["memory_after_load"] = memory_mb(ranker.proc.pid)
        result["max_rps_p99_50ms"] = max_rate(rows)
        result["every_rate_passed"] = all(passes(r) for r in rows)
    finally:
        ranker.proc.terminate()
    return result


def row_line(row: dict) -> str:
    return (
        f"offered {row['offered_rps']:g}/s achieved {row['achieved_rps']:.0f}/s  p50 {fmt(row['p50_ms'])}  "
        f"p99 {fmt(row['p99_ms'])}  p99.9 {fmt(row['p999_ms'])} ms  errors {row['errors']}/{row['requests']}"
        f"{' ' + str(row['error_codes']) if row['errors'] else ''}  send lag p99 {fmt(row['send_lag_p99_ms'])} ms"
        + (
            "  cores: " + " ".join(f"{k} {v:.2f}" for k, v in row["cpu_cores"].items() if k != "steal")
            if "cpu_cores" in row
            else ""
        )
    )


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def ann_recall(artifact: Path, n: int, users: int) -> float:
    """Recall@10 of the served ANN (default IndexConfig, exact scoring off) vs float32 exact at ``n`` items."""
    from bench.ranker_bench import recall_at_10
    from ranker.index import IndexConfig
    from ranker.service.model_adapter import ModelAdapter

    return recall_at_10(ModelAdapter.load(artifact), n, IndexConfig(exact_max_items=0), users)


def busy_processes(limit: int = 6) -> list[str]:
    """Other processes using CPU now (sampled over 1 s): context for a shared machine."""
    mine = {os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))}
    procs = [p for p in psutil.process_iter(["pid", "name", "cmdline"]) if p.pid not in mine]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)
    time.sleep(1.0)
    busy = []
    for p in procs:
        try:
            cpu = p.cpu_percent(None)
        except psutil.Error:
            continue
        if cpu >= 5:
            command = " ".join(p.info["cmdline"] or [p.info["name"] or "?"])[:100]
            busy.append((cpu, f"{cpu:.0f}% {command}"))
    return [text for _, text in sorted(busy, reverse=True)[:limit]]


def cpu_flags() -> dict[str, object]:
    """The CPU: the lent 2-core VMs differ, and exact scoring's speed with them (see bench/ranker_bench.py)."""
    from ranker.index.prefilter import cpu_has_int8_dot, cpu_has_native_bf16

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    return {
        "cpu_model": model,
        "cpu_avx512f": "avx512f" in text.split(),
        "cpu_int8_dot": cpu_has_int8_dot(),
        "cpu_native_bf16": cpu_has_native_bf16(),
    }


def git_context() -> dict[str, object]:
    """The commit measured and the files that differ from it (the working tree may hold uncommitted work)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        return done.stdout.rstrip()

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line]
    return {"git_commit": git("rev-parse", "--short", "HEAD"), "uncommitted_files": changed}


# --- reports -----------------------------------------------------------------------------------------------------


def headline(report: dict) -> dict[str, float]:
    """The keys merged into reports/bench/ranker.json."""
    out: dict[str, float] = {}
    for name, size in report["sizes"].items():
        rows = {r["offered_rps"]: r for r in size["rates"] if "skipped" not in r}
        out[f"max_rps_p99_50ms_{name}"] = size["max_rps_p99_50ms"]
        out[f"time_to_serving_s_{name}"] = size["time_to_serving_s"]
        out[f"rss_mb_at_serving_{name}"] = size["memory_at_serving"]["rss_mb"]
        out[f"rss_mb_after_load_{name}"] = size["memory_after_load"]["rss_mb"]
        if "peak_rss_mb" in size["memory_after_load"]:
            out[f"peak_rss_mb_{name}"] = size["memory_after_load"]["peak_rss_mb"]
        if 20 in rows:
            out[f"idle_p50_ms_{name}"] = rows[20]["p50_ms"]
            out[f"idle_p99_ms_{name}"] = rows[20]["p99_ms"]
        if 1000 in rows:
            out[f"open_loop_p99_ms_at_1000_{name}"] = rows[1000]["p99_ms"]
            out[f"open_loop_errors_at_1000_{name}"] = rows[1000]["errors"]
        js = size.get("js")
        if js and "skipped" not in js:
            out[f"open_loop_js_p99_ms_at_{js['offered_rps']:g}_{name}"] = js["p99_ms"]
            out[f"open_loop_js_p50_ms_at_{js['offered_rps']:g}_{name}"] = js["p50_ms"]
    if "ann_recall_at_10_1m" in report:
        out["ann_recall_at_10_1m"] = report["ann_recall_at_10_1m"]
    others = [r["cpu_cores"]["other"] for s in report["sizes"].values() for r in s["rates"] if "cpu_cores" in r]
    if others:  # the machine's contention: cores other processes used, mean over the rows
        out["open_loop_other_cpu_cores_mean"] = sum(others) / len(others)
    out["open_loop_fresh_event_share"] = report["fresh_event_share"]
    out["open_loop_seconds_per_rate"] = report["seconds_per_rate"]
    return {k: v for k, v in out.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}


SIZE_KEY_PREFIXES = (
    "max_rps_p99_50ms_", "time_to_serving_s_", "rss_mb_at_serving_", "rss_mb_after_load_", "peak_rss_mb_",
    "idle_p50_ms_", "idle_p99_ms_", "open_loop_p99_ms_at_", "open_loop_errors_at_", "open_loop_js_",
)  # fmt: skip


def merge_into(path: Path, keys: dict[str, float], sizes: Iterable[str] = ()) -> None:
    """Add or replace ``keys`` in the JSON object at ``path``, keeping every other key, except that a size measured
    in this run (``sizes``) loses its keys from earlier runs (a rate not reached this time keeps no stale figure)."""
    current = json.loads(path.read_text()) if path.exists() else {}
    for name in sizes:
        for key in [k for k in current if k.startswith(SIZE_KEY_PREFIXES) and k.endswith(f"_{name}")]:
            del current[key]
    current.update({k: round(float(v), 4) for k, v in keys.items()})
    path.write_text(json.dumps(current, indent=2) + "\n")


def markdown(report: dict) -> str:
    lines = [
        "# Open-loop Recommend benchmark",
        "",
        f"Generated by `python -m bench.open_loop` ({report['started']}). Machine: {report['cpu_cores']} cores "
        f"({report['cpu_model']}; AVX-512 {report['cpu_avx512f']}, int8 dot {report['cpu_int8_dot']}, native "
        f"bfloat16 {report['cpu_native_bf16']}), "
        f"load generator on the same machine (a separate process); 1-minute load average "
        f"{report['load_average_1m_at_start']:.2f} at start, {report['load_average_1m_at_end']:.2f} at end. "
        f"{report['seconds_per_rate']:g} s measured per rate after {report['warmup_s']:g} s of warm-up at that "
        f"rate; {report['fresh_event_share']:.0%} of calls carry a new event (history-cache miss). "
        f"Users: {report['users']} ({report['histories']}). Latency counts from each call's scheduled send time. "
        "p99.9 of fewer than 1,000 calls is the slowest call.",
        "",
        "Other processes using CPU at start: " + ("; ".join(report["busy_at_start"]) or "none") + ".",
        "",
        "Ranker settings: defaults"
        + (" plus environment " + ", ".join(f"`{k}={v}`" for k, v in report["ranker_env"].items()))
        * bool(report["ranker_env"])
        + ".",
        "",
        f"Code: commit {report['git_commit']}"
        + (
            f" with {len(report['uncommitted_files'])} uncommitted tracked files in the working tree "
            f"({', '.join(report['uncommitted_files'][:8])}{', ...' if len(report['uncommitted_files']) > 8 else ''})."
            if report["uncommitted_files"]
            else " (clean working tree)."
        ),
        "",
        "## Start-up and memory (ranker process)",
        "",
        "| items | time to SERVING s | RSS at SERVING MiB | RSS after load MiB | peak RSS MiB | max rate p99 ≤ 50 ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report["sizes"].values():
        bound = "" if not s["every_rate_passed"] else " (every rate passed: lower bound)"
        lines.append(
            f"| {s['items']:,} | {s['time_to_serving_s']:.1f} | {s['memory_at_serving']['rss_mb']:.0f} | "
            f"{s['memory_after_load']['rss_mb']:.0f} | {fmt(s['memory_after_load'].get('peak_rss_mb'), 0)} | "
            + (f"{s['max_rps_p99_50ms']:g}/s{bound} |" if s["max_rps_p99_50ms"] else "none of the rates tested |")
        )
    if "ann_recall_at_10_1m" in report:
        lines += ["", f"ANN recall@10 vs exact at 1M items: **{report['ann_recall_at_10_1m']:.3f}**."]
    for name, s in report["sizes"].items():
        lines += [
            "",
            f"## {name} items",
            "",
            "Other processes using CPU when this size started: "
            + ("; ".join(s.get("busy_at_start", [])) or "none")
            + ".",
            "",
            "| client | offered/s | achieved/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | send lag p99 ms |"
            " batch | cache miss | user_state | history_model | scoring | batch_wait | compute_wait | server p99 |"
            " cores ranker / generator / other |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        rows = list(s["rates"]) + ([s["js"]] if "js" in s else [])
        for r in rows:
            client = "grpc-js" if r.get("client", "").startswith("node") or r is s.get("js") else "python"
            if "skipped" in r:
                lines.append(f"| {client} | {r['offered_rps']:g} | {r['skipped']} |" + " |" * 15)
                continue
            st, b = r["stages"], r["stages"]["batching"]
            errors = f"{r['errors']}" + (f" {r['error_codes']}" if r["errors"] else "")
            lines.append(
                f"| {client} | {r['offered_rps']:g} | {r['achieved_rps']:.0f} | {fmt(r['p50_ms'])} | "
                f"{fmt(r['p99_ms'])} | {fmt(r['p999_ms'])} | {fmt(r['max_ms'])} | {errors} | "
                f"{fmt(r['send_lag_p99_ms'])} | {fmt(b['mean_batch_size'])} | "
                f"{fmt(b['history_cache_miss_share'], 2)} | "
                + " | ".join(
                    f"{fmt(st[k]['mean_ms'], 2)}"
                    for k in ("user_state", "history_model", "scoring", "batch_wait", "compute_wait")
                )
                + f" | {fmt(st['server_total']['p99_ms'])} | "
                + " / ".join(f"{r['cpu_cores'][k]:.2f}" for k in ("ranker", "generator", "other"))
                + " |"
            )
    lines += [
        "",
        "Stage columns: mean ms per observation from the ranker's `kairos_ranker_recommend_stage_seconds` "
        "(user_state, history_model and scoring are per micro-batch; batch_wait and compute_wait per request); "
        "server p99: bucket estimate of the server-side Recommend latency (`kairos_rpc_latency_seconds`). "
        "batch: mean requests per micro-batch; cache miss: share of user vectors computed by a forward pass. "
        "Full per-stage p50/p99 estimates are in open_loop.json. cores: CPU cores used on average during the "
        "run by the ranker, the load generator, and every other process on the machine (other people's work): "
        "with 2 cores, a row whose `other` is well above zero measured the machine's contention as much as the "
        "ranker.",
        "",
    ]
    return "\n".join(lines)


def plot(report: dict, path: Path) -> bool:
    """p50 and p99 vs offered rate per size (log latency axis); False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (lat, ach) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, s in report["sizes"].items():
        rows = [r for r in s["rates"] if "skipped" not in r and r["p99_ms"] is not None]
        rates = [r["offered_rps"] for r in rows]
        (line,) = lat.plot(rates, [r["p99_ms"] for r in rows], "o-", label=f"{name} p99")
        lat.plot(rates, [r["p50_ms"] for r in rows], "s--", color=line.get_color(), label=f"{name} p50")
        ach.plot(rates, [r["achieved_rps"] for r in rows], "o-", color=line.get_color(), label=name)
        js = s.get("js")
        if js and "skipped" not in js:
            lat.plot(
                [js["offered_rps"]], [js["p99_ms"]], "*", ms=12, color=line.get_color(), label=f"{name} grpc-js p99"
            )
    lat.axhline(P99_TARGET_MS, color="grey", lw=0.8, ls=":")
    lat.set(xlabel="offered Recommend/s", ylabel="latency ms (from scheduled send)", yscale="log",
            title="Open-loop latency")  # fmt: skip
    lat.legend(fontsize=7, ncol=2)
    top = max((r["offered_rps"] for s in report["sizes"].values() for r in s["rates"]), default=1)
    ach.plot([0, top], [0, top], color="grey", lw=0.8, ls=":")
    ach.set(xlabel="offered Recommend/s", ylabel="achieved Recommend/s", title="Throughput")
    ach.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --- main --------------------------------------------------------------------------------------------------------


def default_artifact() -> Path:
    for name in ("ml100k-full", "current"):
        if (REPO_ROOT / "artifacts" / name).exists():
            return REPO_ROOT / "artifacts" / name
    raise SystemExit("no artifact under artifacts/ (train one with `make bench`, or pass --artifact DIR)")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Plan]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", type=Path)
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="10k, 100k, 1m or a count (2500, 5k)")
    p.add_argument("--rates", nargs="*", default=[], metavar="SIZE=R1,R2", help="offered rates of a size")
    p.add_argument("--seconds", type=float, help="measured seconds per rate (15; --quick: 3)")
    p.add_argument("--warmup-s", type=float, help="warm-up seconds per rate at that rate (2; --quick: 1)")
    p.add_argument("--quick", action="store_true", help="smoke run: fewer rates, short runs, 16 recall users")
    p.add_argument("--fresh-event-share", type=float, default=0.2)
    p.add_argument("--stop-p99-ms", type=float, default=1000.0, help="skip higher rates once p99 exceeds this")
    p.add_argument("--js-size", default="100k", help="size of the grpc-js row ('none': no row)")
    p.add_argument("--js-rate", type=float, default=500.0)
    p.add_argument("--recall-users", type=int, help="users of the 1M ANN recall@10 (64; --quick: 16)")
    p.add_argument("--data", type=Path, help="ML-100k folder for the user histories (default: the ranker's)")
    p.add_argument("--max-users", type=int, help="use only this many users (smoke runs)")
    p.add_argument("--out-dir", type=Path, default=REPO_ROOT / "reports" / "bench")
    p.add_argument("--ranker-json", type=Path, default=REPO_ROOT / "reports" / "bench" / "ranker.json")
    p.add_argument("--no-merge", action="store_true", help="do not touch --ranker-json")
    p.add_argument("--name", default="open_loop", help="file stem of the reports")
    p.add_argument("--ranker-env", nargs="*", default=[], metavar="KEY=VALUE", help="extra ranker environment")
    args = p.parse_args(argv)
    rates = {name: list(map(float, (QUICK_RATES if args.quick else DEFAULT_RATES).get(name, (20, 500))))
             for name in args.sizes}  # fmt: skip
    for spec in args.rates:
        name, _, values = spec.partition("=")
        rates[name] = [float(v) for v in values.split(",") if v]
    plan = Plan(
        sizes=list(args.sizes),
        rates=rates,
        seconds=args.seconds if args.seconds is not None else (3.0 if args.quick else 15.0),
        warmup_s=args.warmup_s if args.warmup_s is not None else (1.0 if args.quick else 2.0),
        fresh_share=args.fresh_event_share,
        stop_p99_ms=args.stop_p99_ms,
        js_size=None if args.js_size == "none" else args.js_size,
        js_rate=args.js_rate,
        recall_users=args.recall_users or (16 if args.quick else 64),
        ranker_env=dict(item.split("=", 1) for item in args.ranker_env),
    )
    return args, plan


def run(args: argparse.Namespace, plan: Plan) -> dict:
    from ranker.service.model_adapter import ModelAdapter
    from ranker.settings import RankerPaths

    artifact = args.artifact or default_artifact()
    items = list(ModelAdapter.load(artifact).catalogue().ids)
    histories = real_histories(args.data or RankerPaths().data_dir, set(items))
    source = "real ML-100k histories, each user's last 50 events"
    if len(histories) < 100:
        histories, source = random_histories(items), "random real items (the ML-100k interactions were not found)"
    if args.max_users:
        histories = dict(list(histories.items())[: args.max_users])
    report: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "ranker_env": plan.ranker_env,
        "artifact": artifact.name,
        **git_context(),
        "cpu_cores": os.cpu_count(),
        **cpu_flags(),
        "load_average_1m_at_start": os.getloadavg()[0],
        "busy_at_start": busy_processes(),
        "seconds_per_rate": plan.seconds,
        "warmup_s": plan.warmup_s,
        "fresh_event_share": plan.fresh_share,
        "users": len(histories),
        "histories": source,
        "sizes": {},
    }
    print(f"other processes using CPU: {report['busy_at_start'] or 'none'}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kairos-open-loop-") as tmp:
        workdir = Path(tmp)
        user_state_proc, user_state = start_user_state(workdir)
        try:
            events = asyncio.run(seed_user_state(user_state, histories))
            print(f"user-state: {len(histories)} users, {events} events ({source})", flush=True)
            workload = workdir / "workload.json"
            workload.write_text(json.dumps(workload_json(histories, items, plan.fresh_share)))
            for i, name in enumerate(plan.sizes):
                report["sizes"][name] = measure_size(
                    name, plan, workdir, artifact, (user_state_proc, user_state), workload, len(items), 1000 * (i + 1)
                )
        finally:
            user_state_proc.terminate()
    if "1m" in plan.sizes:
        print("ANN recall@10 vs exact at 1M items ...", flush=True)
        report["ann_recall_at_10_1m"] = ann_recall(artifact, SIZES["1m"], plan.recall_users)
        print(f"ANN recall@10 at 1M: {report['ann_recall_at_10_1m']:.3f}", flush=True)
    report["load_average_1m_at_end"] = os.getloadavg()[0]
    return report


def main(argv: list[str] | None = None) -> int:
    args, plan = parse_args(argv)
    report = run(args, plan)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    keys = headline(report)
    report["headline"] = keys
    stem = args.out_dir / args.name
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    plotted = plot(report, stem.with_suffix(".png"))
    print(f"wrote {stem}.json, {stem}.md" + (f", {stem}.png" if plotted else " (no plot)"))
    if not args.no_merge:
        merge_into(args.ranker_json, keys, report["sizes"])
        print(f"merged {len(keys)} keys into {args.ranker_json}")
    for key, value in keys.items():
        print(f"  {key}: {value:.4g}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
