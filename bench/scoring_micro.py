"""Exact scoring micro-benchmark: ``ItemIndex.search`` at batch sizes 1, 8 and 64, this tree against a base tree.

    .venv/bin/python -m bench.scoring_micro --base /tmp/kairos-base [--sizes 10k 100k] [--modes auto off]

``--base`` is a checkout of an older commit (``git worktree add --detach /tmp/kairos-base <commit>``). Each side
runs in its own worker process (one thread, like the ranker's compute worker, same nice level) that builds the
same synthetic index; the driver then asks the two workers for one timed search at a time, old and new back to
back (who goes first alternates), so both see the same machine load even on a shared machine. Reported per batch
size: the median of each side, the median of the paired old/new ratios, and the fastest call of each. Queries
are what an idle Recommend sends: k=10 with 50 history items excluded. Writes reports/bench/scoring_micro.{json,md}.
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
BATCH_MAX = 64


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
    """Build one index in this process's tree, report it, then answer each batch size read from stdin with the
    milliseconds of one search of that many users."""
    import torch
    from threadpoolctl import threadpool_limits

    from ranker.index import IndexConfig, ItemIndex, SearchQuery

    torch.set_num_threads(1)
    threadpool_limits(1)
    n, most = args.size, BATCH_MAX
    items, users, columns = synthetic(n, most)
    ids = [f"i{j}" for j in range(n)]
    started = time.perf_counter()
    index = ItemIndex.build(ids, items, IndexConfig(exact_prefilter=args.mode), score_columns=columns)
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(1)
    queries = [
        SearchQuery(user=b, k=10, exclude_ids=frozenset(ids[j] for j in rng.integers(0, n, EXCLUDED)))
        for b in range(most)
    ]
    print(json.dumps({"exact_scoring": index.exact_scoring, "build_s": build_s}), flush=True)
    for line in sys.stdin:
        b = int(line)
        t = time.perf_counter()
        index.search(users[:b], queries[:b])
        print(1000 * (time.perf_counter() - t), flush=True)


class Side:
    """A worker process over one tree, answering timed searches one at a time."""

    def __init__(self, tree: Path, size: int, mode: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--size", str(size), "--mode", mode]
        self.proc = subprocess.Popen(
            command, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.info = json.loads(self._line())

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait()}")
        return line

    def time(self, batch: int) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{batch}\n")
        self.proc.stdin.flush()
        return float(self._line())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def index_version(tree: Path) -> str:
    """The last commit of ``tree`` that changed ranker/index/, and whether the package has uncommitted edits."""
    last = subprocess.run(["git", "log", "-1", "--format=%h", "--", "ranker/index"], cwd=tree, capture_output=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "ranker/index"], cwd=tree, capture_output=True)
    return last.stdout.decode().strip() + (" + uncommitted edits" if dirty.stdout.strip() else "")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    trees = {"old": Path(args.base).resolve(), "new": REPO_ROOT}
    batches = [int(b) for b in args.batches]
    rows = []
    for size in map(parse_size, args.sizes):
        for mode in args.modes:
            sides = {name: Side(tree, size, mode) for name, tree in trees.items()}
            ms: dict[str, dict[int, list[float]]] = {name: {b: [] for b in batches} for name in sides}
            for b in batches:  # warm-up: scratch buffers, oneDNN kernels
                for side in sides.values():
                    side.time(b)
            for r in range(args.repeats):
                for b in batches:
                    for name in sorted(sides, reverse=r % 2 == 1):  # who goes first alternates
                        ms[name][b].append(sides[name].time(b))
            kinds = {name: side.info["exact_scoring"] for name, side in sides.items()}
            for side in sides.values():
                side.close()
            for b in batches:
                old, new = float(np.median(ms["old"][b])), float(np.median(ms["new"][b]))
                ratios = np.asarray(ms["old"][b]) / np.asarray(ms["new"][b])  # calls made back to back
                row = {"items": size, "mode": mode, "batch": b, "old_ms": old, "new_ms": new, "speedup": old / new}
                row |= {"paired_ratio_median": float(np.median(ratios)), "old_min_ms": min(ms["old"][b])}
                row |= {"new_min_ms": min(ms["new"][b]), "calls": len(ms["new"][b])}
                row |= {"old_kind": kinds["old"], "new_kind": kinds["new"]}
                rows.append(row)
                paired = row["paired_ratio_median"]
                print(f"{size:>7} {mode:>5} B={b:<3} old {old:7.2f} ms ({kinds['old']}) new {new:7.2f} ms "
                      f"({kinds['new']}) x{old / new:.2f} (paired x{paired:.2f})", flush=True)  # fmt: skip
    return {
        "command": " ".join(["python -m bench.scoring_micro", *sys.argv[1:]]),
        "old_index": index_version(trees["old"]),
        "new_index": index_version(REPO_ROOT),
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
        "thread, synthetic clustered vectors (225 columns, 193 scored). Old and new run in two worker processes at "
        f"nice {report['nice']}, timed one call at a time, back to back; paired: median of the per-pair old/new "
        "ratios; min: the fastest call. ranker/index/ as of old: "
        f"{report['old_index']}; new: {report['new_index']}. {report['cpu_cores']} cores, shared: 1-minute load "
        f"average {report['load_average_1m_start']:.2f} at start, {report['load_average_1m_end']:.2f} at end.",
        "",
        "| items | exact_prefilter | batch | calls | old ms | new ms | old/new (medians) | old/new (paired) | "
        "old min ms | new min ms | new ms per request | old path | new path |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['items']:,} | {r['mode']} | {r['batch']} | {r['calls']} | {r['old_ms']:.2f} | {r['new_ms']:.2f} | "
            f"{r['speedup']:.2f}x | {r['paired_ratio_median']:.2f}x | {r['old_min_ms']:.2f} | {r['new_min_ms']:.2f} | "
            f"{r['new_ms'] / r['batch']:.3f} | {r['old_kind']} | {r['new_kind']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", help="checkout of the commit to compare against")
    p.add_argument("--sizes", nargs="+", default=["10k", "100k"])
    p.add_argument("--modes", nargs="+", default=["auto", "off"], help="index.exact_prefilter values")
    p.add_argument("--batches", nargs="+", default=["1", "8", "64"], help=f"batch sizes (at most {BATCH_MAX})")
    p.add_argument("--repeats", type=int, default=60, help="timed calls per side and batch size")
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
    report = measure(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
