"""Compare a load run's summaries with the SLO thresholds of the config file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from deploy.load.config import RpcSlo, Slo
from deploy.load.stats import OVERALL, RpcSummary


@dataclass(frozen=True)
class Violation:
    """One threshold the run missed."""

    scope: str  # an RPC name or OVERALL
    metric: str  # e.g. "p99_ms", "error_rate", "rps"
    limit: float
    actual: float

    def __str__(self) -> str:
        relation = ">=" if self.metric in ("rps", "requests") else "<="
        return f"{self.scope}: {self.metric} = {self.actual:g} (SLO {relation} {self.limit:g})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_rpc(scope: str, summary: RpcSummary, slo: RpcSlo) -> list[Violation]:
    found = []
    for metric in ("p50_ms", "p95_ms", "p99_ms"):
        limit = getattr(slo, metric)
        if limit is not None and getattr(summary, metric) > limit:
            found.append(Violation(scope, metric, limit, getattr(summary, metric)))
    if slo.max_error_rate is not None and summary.error_rate > slo.max_error_rate:
        found.append(Violation(scope, "error_rate", slo.max_error_rate, summary.error_rate))
    if slo.min_rps is not None and summary.rps < slo.min_rps:
        found.append(Violation(scope, "rps", slo.min_rps, summary.rps))
    return found


def check_slo(summaries: Mapping[str, RpcSummary], slo: Slo) -> list[Violation]:
    """Every threshold in `slo` the run missed; an RPC with thresholds but no requests is a violation."""
    overall = summaries[OVERALL]
    found = _check_rpc(
        OVERALL, overall, RpcSlo(p99_ms=slo.p99_ms, max_error_rate=slo.max_error_rate, min_rps=slo.min_rps)
    )
    for name, rpc_slo in slo.rpcs.items():
        summary = summaries.get(name)
        if summary is None or summary.requests == 0:
            found.append(Violation(name, "requests", 1, 0))
            continue
        found.extend(_check_rpc(name, summary, rpc_slo))
    return found
