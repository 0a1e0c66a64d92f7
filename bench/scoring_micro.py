"""Exact scoring micro-benchmark: ``ItemIndex.search`` at batch sizes 1, 8 and 64, this tree against a base tree.

    .venv/bin/python -m bench.scoring_micro --base /tmp/kairos-base [--sizes 10k 100k] [--modes auto off]

``--base`` is a checkout of an older commit (``git worktree add --detach /tmp/kairos-base <commit>``). Each side
runs in its own worker process (one thread, like the ranker's compute worker) that builds the same synthetic
index and times searches; the driver alternates the two sides for ``--rounds`` rounds at one nice level, so both
see the same machine load, and reports per-call medians over all rounds and their ratio. Queries are what an
idle Recommend sends: k=10 with the user's 50 history items excluded. Writes reports/bench/scoring_micro.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "reports" / "bench" / "scoring_micro"
# The served model's layout: 129 model columns (128 + the new-item boost's), a 32-column content code no user
# reads, 64 more boost columns; the index scores the 193 columns a user vector can make count.
DIM, CODE = (129, 32), 64
EXCLUDED = 50  # history items excluded per query (exclude_seen)


def parse_size(text: str) -> int:
    text = text.lower()
    scale = 1_000_000 if text.endswith("m") else 1_000 if text.endswith("k") else 1
    return int(float(text.rstrip("mk")) * scale)


def synthetic(n: int, users: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items (n, dim), users (users, dim), scored columns): clustered items, users zero on the code block."""
    rng = np.random.default_rng(seed)
    dim = DIM[0] + DIM[1] + CODE
    centres = rng.standard_normal((2000, dim)).astype(np.float32)
    items = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, dim), dtype=np.float32)
    people = centres[rng.integers(0, len(centres), users)] + 0.5 * rng.standard_normal((users, dim), np.float32)
    people[:, DIM[0] : DIM[0] + DIM[1]] = 0.0
    columns = np.r_[0 : DIM[0], DIM[0] + DIM[1] : dim].astype(np.int64)
    return items.astype(np.float32), people.astype(np.float32), columns


def worker(args: argparse.Namespace) -> None:
    """Build one index in this process's tree and print per-batch search timings (ms) as JSON."""
    import torch
    from threadpoolctl import threadpool_limits

    from ranker.index import IndexConfig, ItemIndex, SearchQuery

    torch.set_num_threads(1)
    threadpool_limits(1)
    n, batches = args.size, [int(b) for b in args.batches]
    items, users, columns = synthetic(n, max(batches))
    ids = [f"i{j}" for j in range(n)]
    started = time.perf_counter()
    index = ItemIndex.build(ids, items, IndexConfig(exact_prefilter=args.mode), score_columns=columns)
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(1)
    queries = [
        SearchQuery(user=b, k=10, exclude_ids=frozenset(ids[j] for j in rng.integers(0, n, EXCLUDED)))
        for b in range(max(batches))
    ]
    times: dict[int, list[float]] = {b: [] for b in batches}
    for b in batches:  # warm-up: scratch buffers, oneDNN kernels
        index.search(users[:b], queries[:b])
    for _ in range(args.repeats):
        for b in batches:
            t = time.perf_counter()
            index.search(users[:b], queries[:b])
            times[b].append(1000 * (time.perf_counter() - t))
    print(json.dumps({"exact_scoring": index.exact_scoring, "build_s": build_s, "ms": times}))


def run_side(tree: Path, size: int, mode: str, batches: list[int], repeats: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--size", str(size), "--mode", mode]
    command += ["--repeats", str(repeats), "--batches", *map(str, batches)]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def git_commit(tree: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True)
    return done.stdout.strip()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    sides = {"old": Path(args.base).resolve(), "new": REPO_ROOT}
    batches = [int(b) for b in args.batches]
    rows = []
    for size in map(parse_size, args.sizes):
        for mode in args.modes:
            ms: dict[str, dict[int, list[float]]] = {side: {b: [] for b in batches} for side in sides}
            kinds: dict[str, str] = {}
            for _ in range(args.rounds):
                for side, tree in sides.items():
                    got = run_side(tree, size, mode, batches, args.repeats)
                    kinds[side] = got["exact_scoring"]
                    for b in batches:
                        ms[side][b] += got["ms"][str(b)]
            for b in batches:
                old, new = float(np.median(ms["old"][b])), float(np.median(ms["new"][b]))
                row = {"items": size, "mode": mode, "batch": b, "old_ms": old, "new_ms": new, "speedup": old / new}
                row |= {"old_kind": kinds["old"], "new_kind": kinds["new"], "calls": len(ms["new"][b])}
                rows.append(row)
                print(f"{size:>7} {mode:>5} B={b:<3} old {old:7.2f} ms ({kinds['old']}) new {new:7.2f} ms "
                      f"({kinds['new']}) x{old / new:.2f}", flush=True)  # fmt: skip
    return {
        "command": " ".join(["python -m bench.scoring_micro", *sys.argv[1:]]),
        "old_commit": git_commit(sides["old"]),
        "new_commit": git_commit(REPO_ROOT) + (" + working tree" if args.dirty_note else ""),
        "nice": os.nice(0),
        "load_average_1m_start": args.load_start,
        "load_average_1m_end": os.getloadavg()[0],
        "cpu_cores": os.cpu_count(),
        "rows": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Exact scoring micro-benchmark",
        "",
        f"`{report['command']}`: `ItemIndex.search` (k=10, {EXCLUDED} excluded history items per query), one "
        "thread, synthetic clustered vectors (225 columns, 193 scored). Old and new run in alternating worker "
        f"processes at nice {report['nice']}; medians over all calls of all rounds. Old: {report['old_commit']}; "
        f"new: {report['new_commit']}. {report['cpu_cores']} cores, shared: 1-minute load average "
        f"{report['load_average_1m_start']:.2f} at start, {report['load_average_1m_end']:.2f} at end.",
        "",
        "| items | exact_prefilter | batch | old ms | new ms | old/new | ms per request (new) | old path | new path |",
        "|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['items']:,} | {r['mode']} | {r['batch']} | {r['old_ms']:.2f} | {r['new_ms']:.2f} | "
            f"{r['speedup']:.2f}x | {r['new_ms'] / r['batch']:.3f} | {r['old_kind']} | {r['new_kind']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", help="checkout of the commit to compare against")
    p.add_argument("--sizes", nargs="+", default=["10k", "100k"])
    p.add_argument("--modes", nargs="+", default=["auto", "off"], help="index.exact_prefilter values")
    p.add_argument("--batches", nargs="+", default=["1", "8", "64"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=15, help="timed calls per batch size per round")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return
    if not args.base:
        p.error("--base is required")
    args.load_start = os.getloadavg()[0]
    status = subprocess.run(["git", "status", "--porcelain", "ranker/"], cwd=REPO_ROOT, capture_output=True, text=True)
    args.dirty_note = bool(status.stdout.strip())
    report = measure(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
