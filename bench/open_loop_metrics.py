"""What the open-loop benchmark measures besides latency: /metrics deltas per stage, CPU and memory, the machine."""

from __future__ import annotations

import contextlib
import math
import os
import resource
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil

from kairos.harness.process import REPO_ROOT

STAGE_METRIC = "kairos_ranker_recommend_stage_seconds"


def memory_mb(*pids: int) -> dict[str, float]:
    """The processes' resident sets now and their peaks (VmHWM), MiB, summed over ``pids``."""
    out = {"rss_mb": sum(psutil.Process(pid).memory_info().rss for pid in pids) / 2**20}
    peaks = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    if len(peaks) == len(pids):
        out["peak_rss_mb"] = sum(peaks)
    return out


# --- users and workload ------------------------------------------------------------------------------------------


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


def index_scoring(sample: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> str | None:
    """The ranker's index scoring path ('int8', 'float32', 'bfloat16', 'ann') from a scrape, None when absent."""
    for (name, labels), value in sample.items():
        if name == "kairos_ranker_index_scoring_info" and value == 1:
            return dict(labels).get("kind")
    return None


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
    """Cores used on average between two snapshots: by the ranker (every replica), the user-state, the load
    generator (this process's finished children), and by everything else on the machine (``other``: other
    people's work)."""

    def __init__(self, ranker_pids: list[int], user_state_pid: int) -> None:
        self.rankers = [psutil.Process(pid) for pid in ranker_pids]
        self.user_state, self.me = psutil.Process(user_state_pid), psutil.Process()

    @staticmethod
    def _used(p: psutil.Process) -> float:
        t = p.cpu_times()
        return t.user + t.system

    def snapshot(self) -> tuple[float, ...]:
        t = psutil.cpu_times()
        busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (time.perf_counter(), busy, sum(self._used(r) for r in self.rankers), self._used(self.user_state),
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
