"""The Grafana dashboard: committed file current, every query valid PromQL (promtool), every metric one the
services (or Triton) really export, and the ConfigMap the Grafana sidecar picks up rendered by every overlay."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from deploy.grafana.dashboard import DASHBOARD, PANELS, render
from deploy.k8s.validate import require_tool
from kairos.service.metrics import RpcMetrics
from ranker.service.metrics import RankerMetrics
from tests.deploy.manifest_queries import require_binary
from user_state.metrics import StoreMetrics

# Triton's own metrics that the dashboard and alerts use (Triton's metrics documentation).
TRITON_METRICS = {
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_request_success",
    "nv_inference_request_failure",
}
PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "max", "le", "without", "on", "ignoring"}


def _exported() -> set[str]:
    """Every series name the services' metric objects export (labelled metrics have no samples until used, so
    names come from each family's type, as the exposition format writes them)."""
    registry = CollectorRegistry()
    RpcMetrics(registry)
    RankerMetrics(registry)
    StoreMetrics(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "info": ("_info",)}
    names = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names | TRITON_METRICS


def _metric_names(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_strings = re.sub(r'"[^"]*"', "", without_labels)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_strings))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhd]", w)} - {"m", "h", "s"}


def test_committed_dashboard_is_current() -> None:
    assert DASHBOARD.read_text() == render(), "run: python -m deploy.grafana.dashboard --write"
    model = json.loads(DASHBOARD.read_text())
    assert len(model["panels"]) == len(PANELS) >= 10
    assert len({p["id"] for p in model["panels"]}) == len(model["panels"])


def test_every_query_names_an_exported_metric() -> None:
    exported = _exported()
    for panel in PANELS:
        for expr, _ in panel.queries:
            names = {n for n in _metric_names(expr) if n.startswith(("kairos_", "nv_"))}
            assert names, (panel.title, expr)
            assert names <= exported, (panel.title, sorted(names - exported))


def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    require_binary("promtool")
    promtool = require_tool("promtool")
    rules = [
        {"record": f"kairos:dashboard_check_{n}_{k}", "expr": expr}
        for n, panel in enumerate(PANELS)
        for k, (expr, _) in enumerate(panel.queries)
    ]
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # and a broken query is caught the same way
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum(rate(a[5m]"}]}]}))
    assert subprocess.run([promtool, "check", "rules", str(path)], capture_output=True).returncode != 0


@pytest.mark.parametrize("overlay", ["overlays/cpu", "overlays/gpu"])
def test_overlays_ship_the_dashboard_configmap(rendered: dict, overlay: str) -> None:
    maps = [
        d for d in rendered[overlay] if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "kairos-grafana-dashboard"
    ]
    assert len(maps) == 1
    assert maps[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(maps[0]["data"]["kairos.json"])["uid"] == "kairos-overview"
