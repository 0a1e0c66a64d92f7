"""kubernetes-validate --strict on every rendered kustomization; CRD objects against their schemas."""

from __future__ import annotations

import copy

import pytest
import yaml

from deploy.k8s.validate import (
    CRD_SCHEMAS,
    KUBERNETES_VERSIONS,
    ValidationReport,
    kustomizations,
    validate_crds,
    validate_rendered,
)
from tests.deploy.manifest_queries import Doc, one, require_binary


@pytest.fixture(autouse=True)
def _kubernetes_validate() -> None:
    require_binary("kubernetes-validate")


@pytest.mark.parametrize("name", sorted(kustomizations()))
def test_rendered_output_passes_strict_validation(rendered_text: dict[str, str], name: str) -> None:
    report = validate_rendered(rendered_text[name])
    assert report.ok, "\n".join(report.errors)
    documents = [d for d in yaml.safe_load_all(rendered_text[name]) if d]
    builtin = sum(1 for d in documents if (d["apiVersion"], d["kind"]) not in CRD_SCHEMAS)
    for version in KUBERNETES_VERSIONS:
        assert len(report.passed[version]) == builtin, version


def test_strict_validation_rejects_an_unknown_field(rendered: dict[str, list[Doc]]) -> None:
    docs = copy.deepcopy(rendered["overlays/cpu"])
    deployment = one(docs, "Deployment", "kairos-ranker")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"grpc": {"port": 50052}}
    report = validate_rendered(yaml.safe_dump_all(docs), versions=(KUBERNETES_VERSIONS[-1],))
    assert not report.ok
    assert any("deployment/kairos-ranker" in e and "readinesProbe" in e for e in report.errors), report.errors


def test_a_kind_without_any_schema_is_an_error() -> None:
    doc = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    report = validate_rendered(yaml.safe_dump(doc), versions=(KUBERNETES_VERSIONS[-1],))
    assert any("no schema for example.com/v1 Widget" in e for e in report.errors)


def test_crd_schemas_accept_the_rendered_monitoring_objects(rendered: dict[str, list[Doc]]) -> None:
    report = ValidationReport()
    validate_crds(rendered["overlays/gpu"], report)
    assert report.ok, report.errors
    assert report.crd_checked == {"podmonitor/kairos", "prometheusrule/kairos-slo"}


@pytest.mark.parametrize(
    ("kind", "name", "mutate", "message"),
    [
        ("PodMonitor", "kairos", lambda d: d["spec"]["podMetricsEndpoints"][0].update(intervall="15s"), "intervall"),
        ("PodMonitor", "kairos", lambda d: d["spec"]["podMetricsEndpoints"][0].update(interval="15 sec"), "interval"),
        ("PodMonitor", "kairos", lambda d: d["spec"].pop("selector"), "selector"),
        ("PrometheusRule", "kairos-slo", lambda d: d["spec"]["groups"][1]["rules"][0].update(fore="5m"), "fore"),
        ("PrometheusRule", "kairos-slo", lambda d: d["spec"]["groups"][1]["rules"][0].pop("expr"), "expr"),
    ],
)
def test_crd_schemas_reject_malformed_objects(
    rendered: dict[str, list[Doc]], kind: str, name: str, mutate, message: str
) -> None:
    doc = copy.deepcopy(one(rendered["overlays/cpu"], kind, name))
    mutate(doc)
    report = ValidationReport()
    validate_crds([doc], report)
    assert not report.ok
    assert any(message in e for e in report.errors), report.errors
