"""promtool lints the deployed PrometheusRule and runs its unit tests (every alert fires / stays silent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.k8s.validate import load_documents
from deploy.prometheus.check_rules import RULE_TESTS_DIR, check_rules, extract_rule_files
from tests.deploy.manifest_queries import require_binary


@pytest.fixture(autouse=True)
def _promtool() -> None:
    require_binary("promtool")


@pytest.mark.parametrize("overlay", ["overlays/cpu", "overlays/gpu"])
def test_rules_lint_and_unit_tests_pass(rendered_text: dict[str, str], overlay: str, tmp_path: Path) -> None:
    lint, unit = check_rules(rendered_text[overlay], tmp_path)
    assert lint.ok, lint.output
    assert "SUCCESS: 19 rules found" in lint.output
    assert unit.ok, unit.output


def test_every_alert_has_a_firing_unit_test(rendered_text: dict[str, str], tmp_path: Path) -> None:
    (rules_file,) = extract_rule_files(load_documents(rendered_text["overlays/cpu"]), tmp_path)
    alerts = {r["alert"] for g in yaml.safe_load(rules_file.read_text())["groups"] for r in g["rules"] if "alert" in r}
    tested = set()
    for test_file in RULE_TESTS_DIR.glob("*.test.yaml"):
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            tested |= {t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert alerts == tested


def test_promtool_check_fails_on_a_broken_expression(rendered_text: dict[str, str], tmp_path: Path) -> None:
    broken = rendered_text["overlays/cpu"].replace(
        "kairos:rpc_latency_seconds:p99_5m{", "kairos:rpc_latency_seconds:p99_5m{{", 1
    )
    lint, _unit = check_rules(broken, tmp_path)
    assert not lint.ok


def test_unit_tests_catch_a_changed_threshold(rendered_text: dict[str, str], tmp_path: Path) -> None:
    # Raising the Recommend threshold to 300 ms must make the "fires at 248.5 ms" unit test fail.
    marker = 'method="Recommend"} > 0.1'
    assert marker in rendered_text["overlays/cpu"]
    loosened = rendered_text["overlays/cpu"].replace(marker, 'method="Recommend"} > 0.3')
    _lint, unit = check_rules(loosened, tmp_path)
    assert not unit.ok
    assert "KairosRecommendLatencyHigh" in unit.output
