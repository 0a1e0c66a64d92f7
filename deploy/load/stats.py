"""Summaries of locust's per-request statistics: RPS, p50/p95/p99 and error rate per RPC and overall."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OVERALL = "Overall"


@dataclass(frozen=True)
class RpcSummary:
    """What one RPC (or the whole run, name == OVERALL) achieved. Latencies in milliseconds."""

    name: str
    requests: int
    failures: int
    duration_s: float
    rps: float
    error_rate: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(histogram: Mapping[int, int], fraction: float) -> float:
    """Smallest recorded latency such that at least `fraction` of requests took no longer (0 if empty).

    `histogram` maps a latency (locust rounds them to whole ms, coarser above 100 ms) to its count.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
    total = sum(histogram.values())
    if total == 0:
        return 0.0
    needed = fraction * total
    seen = 0
    for latency in sorted(histogram):
        seen += histogram[latency]
        if seen >= needed:
            return float(latency)
    return float(max(histogram))


def _summary(name: str, entries: list[Mapping[str, Any]]) -> RpcSummary:
    histogram: Counter[int] = Counter()
    for entry in entries:
        histogram.update({int(k): int(v) for k, v in entry["response_times"].items()})
    requests = sum(int(e["num_requests"]) for e in entries)
    failures = sum(int(e["num_failures"]) for e in entries)
    starts = [float(e["start_time"]) for e in entries]
    ends = [float(e["last_request_timestamp"]) for e in entries if e.get("last_request_timestamp")]
    duration = max(ends) - min(starts) if ends else 0.0
    total_ms = sum(float(e["total_response_time"]) for e in entries)
    return RpcSummary(
        name=name,
        requests=requests,
        failures=failures,
        duration_s=duration,
        rps=requests / duration if duration > 0 else 0.0,
        error_rate=failures / requests if requests else 0.0,
        avg_ms=total_ms / requests if requests else 0.0,
        p50_ms=percentile(histogram, 0.50),
        p95_ms=percentile(histogram, 0.95),
        p99_ms=percentile(histogram, 0.99),
        max_ms=max((float(e["max_response_time"]) for e in entries), default=0.0),
    )


def summarise(entries: Iterable[Mapping[str, Any]]) -> dict[str, RpcSummary]:
    """Per-RPC summaries (keyed by request name) plus OVERALL, from locust's `--json-file` entries."""
    entries = [e for e in entries if e["num_requests"] or e["num_failures"]]
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        by_name.setdefault(entry["name"], []).append(entry)
    summaries = {name: _summary(name, group) for name, group in sorted(by_name.items())}
    summaries[OVERALL] = _summary(OVERALL, entries)
    return summaries


def load_locust_json(path: Path) -> list[dict[str, Any]]:
    """Read the stats entries locust wrote with `--json-file`."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of locust stats entries")
    return data


def format_table(summaries: Mapping[str, RpcSummary]) -> str:
    """A fixed-width table of the summaries, one row per RPC, OVERALL last."""
    header = (
        f"{'rpc':<14}{'requests':>10}{'failures':>10}{'error %':>9}{'rps':>10}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    rows = [header, "-" * len(header)]
    ordered = [s for n, s in summaries.items() if n != OVERALL] + [summaries[OVERALL]]
    for s in ordered:
        rows.append(
            f"{s.name:<14}{s.requests:>10}{s.failures:>10}{100 * s.error_rate:>9.2f}{s.rps:>10.1f}"
            f"{s.p50_ms:>9.0f}{s.p95_ms:>9.0f}{s.p99_ms:>9.0f}{s.max_ms:>9.0f}"
        )
    return "\n".join(rows)
