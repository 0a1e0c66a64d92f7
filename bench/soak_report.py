"""The soak run's summary: memory growth, errors and latency drift per window, the plot and the printed lines."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.soak_bench import MixedLoad

SAMPLE_EVERY_S = 5.0
MIB = 2**20


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def latency_summary(points: list[tuple[float, float]], lo: float, hi: float) -> dict[str, float] | None:
    window = [lat for t, lat in points if lo <= t < hi]
    if not window:
        return None
    return {"n": len(window), "p50_ms": percentile(window, 50) * 1e3, "p99_ms": percentile(window, 99) * 1e3}


def summarise(load: MixedLoad, rss: dict[str, list[tuple[float, int]]], seconds: float) -> dict:
    """RSS growth per service, errors per RPC, latency in the first vs the last minute."""
    edge = min(60.0, seconds / 2)
    rpcs: dict[str, dict] = {}
    for rpc in sorted(load.recorder.codes):
        points = load.recorder.latencies.get(rpc, [])
        first = latency_summary(points, 0, edge)
        last = latency_summary(points, seconds - edge, seconds + 60)
        drift = None
        if first and last:
            drift = {"p50_ratio": last["p50_ms"] / first["p50_ms"], "p99_ratio": last["p99_ms"] / first["p99_ms"]}
        codes = dict(load.recorder.codes[rpc])
        rpcs[rpc] = {
            "calls": sum(codes.values()),
            "codes": codes,
            "errors": sum(v for k, v in codes.items() if k != "OK"),
            "first_window": first,
            "last_window": last,
            "drift": drift,
        }
    services = {}
    for name, samples in rss.items():
        values = [v for _, v in samples]
        # The first sample is taken after warm-up; growth is measured from it.
        services[name] = {
            "rss_start_mib": values[0] / MIB,
            "rss_end_mib": values[-1] / MIB,
            "rss_peak_mib": max(values) / MIB,
            "rss_growth_mib": (values[-1] - values[0]) / MIB,
            "rss_growth_mib_per_min": (values[-1] - values[0]) / MIB / (seconds / 60),
        }
    return {
        "window_s": edge,
        "rpcs": rpcs,
        "services": services,
        "client_shed_calls": load.shed,
        "total_errors": sum(r["errors"] for r in rpcs.values()),
    }


def plot(path: Path, rss: dict[str, list[tuple[float, int]]], load: MixedLoad, seconds: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for name, samples in rss.items():
        top.plot([t / 60 for t, _ in samples], [v / MIB for _, v in samples], marker=".", label=name)
    top.set_ylabel("RSS (MiB)")
    top.set_title("Soak: resident memory per service")
    top.legend()
    buckets = [i * SAMPLE_EVERY_S for i in range(int(seconds // SAMPLE_EVERY_S) + 2)]
    for rpc in ("Recommend", "GetSequences", "AppendEvents"):
        points = load.recorder.latencies.get(rpc, [])
        xs, p50, p99 = [], [], []
        for lo, hi in itertools.pairwise(buckets):
            window = [lat for t, lat in points if lo <= t < hi]
            if window:
                xs.append(hi / 60)
                p50.append(percentile(window, 50) * 1e3)
                p99.append(percentile(window, 99) * 1e3)
        (line,) = bottom.plot(xs, p50, label=f"{rpc} p50")
        bottom.plot(xs, p99, linestyle="--", color=line.get_color(), label=f"{rpc} p99")
    bottom.set_yscale("log")
    bottom.set_ylabel(f"latency per {SAMPLE_EVERY_S:.0f}s window (ms)")
    bottom.set_xlabel("minutes")
    bottom.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_summary(result: dict) -> None:
    """The headline figures of a soak result."""
    config = result["config"]
    print(f"\nsoak {config['minutes']} min, offered {config['offered_rps']} calls/s: errors {result['total_errors']}")
    for name, s in result["services"].items():
        print(
            f"  {name:10s} RSS {s['rss_start_mib']:.0f} -> {s['rss_end_mib']:.0f} MiB "
            f"(growth {s['rss_growth_mib']:+.1f} MiB, peak {s['rss_peak_mib']:.0f})"
        )
    for rpc, r in result["rpcs"].items():
        first, last = r["first_window"] or {}, r["last_window"] or {}
        p50 = f"{first.get('p50_ms', 0):7.1f} -> {last.get('p50_ms', 0):7.1f}"
        p99 = f"{first.get('p99_ms', 0):7.1f} -> {last.get('p99_ms', 0):7.1f}"
        print(f"  {rpc:13s} calls {r['calls']:6d} errors {r['errors']:4d}  p50 {p50} ms  p99 {p99} ms")
