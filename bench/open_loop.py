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
ANN recall@10 at 1M against exact float32 scoring: bench/index_measures.py's recall_at_10 (same vectors as served).
Writes ``open_loop.json``, ``open_loop.md`` and ``open_loop.png`` (``--name``) under ``--out-dir`` and merges the
headline keys into ``--ranker-json`` (other keys kept). ``--replicas N`` starts N rankers per size and the generator
balances over them (gRPC round_robin): one process serves on about one core (the GIL), so this is how a machine's
other cores serve. ``--ranker-env KEY=VALUE`` runs the rankers with extra
environment variables (e.g. a setting to compare; recorded in the report). The load generator shares the machine
with the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.open_loop_metrics import (
    CpuMeter,
    breakdown,
    busy_processes,
    cpu_flags,
    git_context,
    index_scoring,
    memory_mb,
    scrape,
)
from bench.open_loop_report import P99_TARGET_MS, headline, markdown, merge_into, plot, row_line, size_labels
from bench.open_loop_servers import (
    RankerGroup,
    random_histories,
    real_histories,
    seed_user_state,
    start_rankers,
    start_user_state,
    workload_json,
)
from kairos.harness.process import REPO_ROOT, ServerProcess

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
DEFAULT_SIZES = ("10k", "100k", "1m")
DEFAULT_RATES = {
    "10k": (20, 500, 1000, 1500, 2000),
    "100k": (20, 100, 250, 500, 1000, 1500, 2000),
    "1m": (20, 100, 250, 500, 750, 1000),
}
QUICK_RATES = {"10k": (20, 500), "100k": (20, 500, 1000), "1m": (20, 500)}
JS_DIR = REPO_ROOT / "bench" / "js"


def parse_size(name: str) -> int:
    """'10k' -> 10000, '1m' -> 1000000, '2500' -> 2500."""
    name = name.lower()
    if name in SIZES:
        return SIZES[name]
    scale = {"k": 1_000, "m": 1_000_000}.get(name[-1], 1)
    return int(float(name.rstrip("km")) * scale)


# --- servers -----------------------------------------------------------------------------------------------------


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
    replicas: int = 1


def measured_run(
    client: str, ranker: RankerGroup, cpu: CpuMeter, workload: Path, rate: float, plan: Plan, run_id: int
) -> dict:
    """One generator run with the ranker's stage breakdown, the cores each party used and the load average."""
    load = os.getloadavg()[0]
    before, cpu_before = ranker.scrape(), cpu.snapshot()
    row = run_generator(client, ranker.address, workload, rate, plan.seconds, plan.warmup_s, run_id)
    row["cpu_cores"] = cpu.cores(cpu_before, cpu.snapshot())
    row["stages"] = breakdown(before, ranker.scrape())
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
    synthetic = max(0, n - real_items)
    ranker = start_rankers(
        workdir, f"ranker-{name}", artifact, user_state[1], synthetic, plan.ranker_env, plan.replicas
    )
    result: dict = {"items": max(n, real_items), "time_to_serving_s": ranker.serving_s, "busy_at_start": busy}
    try:
        cpu = CpuMeter(ranker.pids, user_state[0].pid)
        result["memory_at_serving"] = memory_mb(*ranker.pids)
        result["exact_scoring"] = index_scoring(scrape(ranker.replicas[0].metrics_url))  # what calibration chose
        print(f"[{name}] SERVING after {ranker.serving_s:.1f} s, RSS {result['memory_at_serving']}, "
              f"scoring {result['exact_scoring']}", flush=True)  # fmt: skip
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
        if plan.js_size == name and plan.replicas > 1:
            result["js"] = {"offered_rps": plan.js_rate, "skipped": "one ranker per run only"}
        elif plan.js_size == name:
            reason = js_available()
            if reason is None:
                run_id += 1
                row = measured_run("node", ranker, cpu, workload, plan.js_rate, plan, run_id)
                print(f"[{name}] grpc-js: {row_line(row)}", flush=True)
                result["js"] = row
            else:
                result["js"] = {"offered_rps": plan.js_rate, "skipped": reason}
                print(f"[{name}] grpc-js row skipped: {reason}", flush=True)
        result["memory_after_load"] = memory_mb(*ranker.pids)
        result["max_rps_p99_50ms"] = max_rate(rows)
        result["every_rate_passed"] = all(passes(r) for r in rows)
    finally:
        ranker.terminate()
    return result


def ann_recall(artifact: Path, n: int, users: int) -> float:
    """Recall@10 of the served ANN (default IndexConfig, exact scoring off) vs float32 exact at ``n`` items."""
    from bench.index_measures import recall_at_10
    from ranker.index import IndexConfig
    from ranker.service.model import load_model

    return recall_at_10(load_model(artifact), n, IndexConfig(exact_max_items=0), users)


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
    p.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="ranker processes per size, called round_robin as one target (Python serves on one core per process)",
    )
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
        replicas=max(1, args.replicas),
    )
    return args, plan


def run(args: argparse.Namespace, plan: Plan) -> dict:
    from ranker.service.model import load_model
    from recmodel.settings import RankerPaths

    artifact = args.artifact or default_artifact()
    items = list(load_model(artifact).catalogue().item_ids)
    histories = real_histories(args.data or RankerPaths().data_dir, set(items))
    source = "real ML-100k histories, each user's last 50 events"
    if len(histories) < 100:
        histories, source = random_histories(items), "random real items (the ML-100k interactions were not found)"
    if args.max_users:
        histories = dict(list(histories.items())[: args.max_users])
    report: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "ranker_env": plan.ranker_env,
        "replicas": plan.replicas,
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
        merge_into(args.ranker_json, keys, size_labels(report))
        print(f"merged {len(keys)} keys into {args.ranker_json}")
    for key, value in keys.items():
        print(f"  {key}: {value:.4g}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
