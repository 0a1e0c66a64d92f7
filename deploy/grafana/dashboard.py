"""The Kairos Grafana dashboard, generated from one table of panels so that tests can read every query.

    python -m deploy.grafana.dashboard --write   # rewrites deploy/k8s/base/monitoring/dashboards/kairos.json

Each panel maps to an SLO the PrometheusRule alerts encode (their runbook: deploy/README.md). Queries use fixed
5-minute windows (no Grafana variables), so `promtool` can check each one as written.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[1] / "k8s" / "base" / "monitoring" / "dashboards" / "kairos.json"
RANKER = 'service="kairos.v1.Ranker"'
USER_STATE = 'service="kairos.v1.UserState"'


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    description: str = ""


def _p(q: float, selector: str, by: str = "") -> str:
    group = f"le{', ' + by if by else ''}"
    return f"histogram_quantile({q}, sum by ({group}) (rate(kairos_rpc_latency_seconds_bucket{{{selector}}}[5m])))"


PANELS: tuple[Panel, ...] = (
    Panel(
        "Recommend rate by status",
        "reqps",
        (("sum by (code) (rate(kairos_rpc_total{" + RANKER + ', method="Recommend"}[5m]))', "{{code}}"),),
        "Every status code, so errors show beside the traffic (KairosErrorBudgetBurn*).",
    ),
    Panel(
        "Recommend latency",
        "s",
        (
            (_p(0.5, RANKER + ', method="Recommend"'), "p50"),
            (_p(0.99, RANKER + ', method="Recommend"'), "p99 (alert above 0.1 s)"),
        ),
        "KairosRecommendLatencyHigh fires when p99 stays above 100 ms for 10 minutes.",
    ),
    Panel(
        "Recommend time by stage (mean)",
        "s",
        (
            (
                "sum by (stage) (rate(kairos_ranker_recommend_stage_seconds_sum[5m])) "
                "/ sum by (stage) (rate(kairos_ranker_recommend_stage_seconds_count[5m]))",
                "{{stage}}",
            ),
        ),
        "validate, batch wait, user-state, compute wait, history model, scoring, response (ranker/service/metrics.py).",
    ),
    Panel(
        "Server-side errors by service and status",
        "reqps",
        (
            (
                'sum by (service, code) (rate(kairos_rpc_total{code=~"INTERNAL|UNAVAILABLE|DEADLINE_EXCEEDED|'
                'RESOURCE_EXHAUSTED|UNKNOWN|DATA_LOSS"}[5m]))',
                "{{service}} {{code}}",
            ),
        ),
    ),
    Panel(
        "Recommend micro-batch size",
        "short",
        (
            ("histogram_quantile(0.5, sum by (le) (rate(kairos_ranker_batch_size_bucket[5m])))", "p50"),
            ("histogram_quantile(0.99, sum by (le) (rate(kairos_ranker_batch_size_bucket[5m])))", "p99"),
        ),
    ),
    Panel(
        "Degraded answers",
        "reqps",
        (("sum by (reason) (rate(kairos_ranker_degradations_total[5m]))", "{{reason}}"),),
        "User-state down, popularity fallback (no history), unknown history items.",
    ),
    Panel(
        "Index size and mode",
        "short",
        (
            ("max by (pod) (kairos_ranker_index_items)", "items {{pod}}"),
            ("max by (pod) (kairos_ranker_index_ann)", "ANN on {{pod}}"),
        ),
        "KairosRankerIndexEmpty / KairosRankerReplicasDiverge watch these.",
    ),
    Panel(
        "Index freshness",
        "s",
        (
            ("max by (pod) (kairos_ranker_newest_item_age_seconds)", "newest item age {{pod}}"),
            (
                "histogram_quantile(0.99, sum by (le, source) "
                "(rate(kairos_ranker_upsert_to_visible_seconds_bucket[5m])))",
                "upsert to visible p99 ({{source}})",
            ),
        ),
    ),
    Panel(
        "Model reloads and history cache",
        "short",
        (
            ("sum by (result) (increase(kairos_ranker_model_reloads_total[1h]))", "reloads {{result}} (1 h)"),
            ("sum by (result) (rate(kairos_ranker_history_cache_total[5m]))", "history cache {{result}}"),
        ),
    ),
    Panel(
        "User-state latency p99 by method",
        "s",
        ((_p(0.99, USER_STATE, "method"), "{{method}} (alert above 0.05 s)"),),
        "KairosUserStateLatencyHigh fires when AppendEvents / GetSequence(s) p99 stays above 50 ms.",
    ),
    Panel(
        "User-state writes",
        "ops",
        (
            ("sum by (store) (rate(kairos_user_state_events_appended_total[5m]))", "appended {{store}}"),
            ("sum by (store) (rate(kairos_user_state_events_duplicate_total[5m]))", "retries skipped {{store}}"),
        ),
    ),
    Panel(
        "In-flight RPCs",
        "short",
        (("sum by (service) (kairos_rpc_in_flight)", "{{service}}"),),
        "Beyond max_concurrent_rpcs a server answers RESOURCE_EXHAUSTED (KairosOverloaded).",
    ),
    Panel(
        "Triton queue and compute time per request",
        "µs",
        (
            (
                "sum by (model) (rate(nv_inference_queue_duration_us[5m])) "
                "/ sum by (model) (rate(nv_inference_request_success[5m]))",
                "queue {{model}} (alert above 50 ms)",
            ),
            (
                "sum by (model) (rate(nv_inference_compute_infer_duration_us[5m])) "
                "/ sum by (model) (rate(nv_inference_request_success[5m]))",
                "compute {{model}}",
            ),
        ),
        "KairosTritonQueueTimeHigh / KairosTritonInferenceFailures.",
    ),
)


def dashboard() -> dict:
    """The Grafana dashboard model (schema 39), two panels a row."""
    panels = []
    for n, panel in enumerate(PANELS):
        panels.append(
            {
                "id": n + 1,
                "type": "timeseries",
                "title": panel.title,
                "description": panel.description,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (n % 2), "y": 8 * (n // 2)},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + k), "expr": expr, "legendFormat": legend}
                    for k, (expr, legend) in enumerate(panel.queries)
                ],
            }
        )
    return {
        "uid": "kairos-overview",
        "title": "Kairos",
        "tags": ["kairos"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Print the dashboard, or rewrite the committed file with --write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.write:
        DASHBOARD.parent.mkdir(parents=True, exist_ok=True)
        DASHBOARD.write_text(render())
    else:
        print(render(), end="")


if __name__ == "__main__":
    main()
