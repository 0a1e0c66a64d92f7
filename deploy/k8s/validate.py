"""Offline validation of every Kairos kustomization: render, strict schema checks, CRD checks.

Built-in kinds are validated by `kubernetes-validate --strict` (unknown fields rejected) against each
Kubernetes version in `KUBERNETES_VERSIONS`. kubernetes-validate has no schemas for custom resources and
only *warns* about them, so the CRD objects (PodMonitor, PrometheusRule) are validated here against JSON
schemas in deploy/k8s/schemas/ instead, and any other kind without a schema is an error: nothing rendered
escapes validation. PromQL inside the PrometheusRule is checked by deploy/prometheus/check_rules.py.

    python -m deploy.k8s.validate            # every kustomization; exit 1 on any error
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

DEPLOY_DIR = Path(__file__).resolve().parent.parent
K8S_DIR = DEPLOY_DIR / "k8s"
SCHEMA_DIR = K8S_DIR / "schemas"
# Oldest supported (lifecycle sleep action, native gRPC probes) and newest known to kubernetes-validate.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor.schema.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.schema.json",
}
_RESULT_LINE = re.compile(r"^(INFO|WARN|ERROR|FATAL) (.*)$")
_PASSED = re.compile(r"passed for resource (\S+) against version")
_NO_SCHEMA = re.compile(r"Couldn't find schema for kind (\S+) with api version (\S+) for kubernetes")


class ToolMissingError(RuntimeError):
    """A command-line tool the validation needs is not installed."""


def kustomizations() -> dict[str, Path]:
    """Every kustomization meant to be applied: overlays, examples and the load-test Job."""
    found = {
        f"{kind}/{path.parent.name}": path.parent
        for kind in ("overlays", "examples")
        for path in sorted((K8S_DIR / kind).glob("*/kustomization.yaml"))
    }
    found["load"] = DEPLOY_DIR / "load"
    return found


def require_tool(name: str) -> str:
    """Absolute path of `name` on PATH (or next to this Python), else ToolMissingError."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        raise ToolMissingError(f"{name} not found on PATH (run scripts/system-deps.sh)")
    return path


def render(kustomization: Path) -> str:
    """`kubectl kustomize` output of one kustomization directory."""
    proc = subprocess.run(
        [require_tool("kubectl"), "kustomize", str(kustomization)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {kustomization} failed:\n{proc.stderr}")
    return proc.stdout


def load_documents(rendered: str) -> list[dict[str, Any]]:
    """Parse a multi-document YAML stream, dropping empty documents."""
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@dataclass
class ValidationReport:
    """Outcome of validating one rendered kustomization."""

    passed: dict[str, set[str]] = field(default_factory=dict)  # version -> {"kind/name", ...}
    crd_checked: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_builtin(rendered: str, versions: tuple[str, ...] = KUBERNETES_VERSIONS) -> ValidationReport:
    """Run `kubernetes-validate --strict` on the rendered stream for each version and parse its verdicts.

    Resources without a schema are recorded as errors unless they are a CRD kind that `validate_crds` covers.
    """
    report = ValidationReport()
    tool = require_tool("kubernetes-validate")
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "rendered.yaml"
        manifest.write_text(rendered)
        for version in versions:
            proc = subprocess.run(
                [tool, "--strict", "-k", version, str(manifest)], capture_output=True, text=True, check=False
            )
            passed = report.passed.setdefault(version, set())
            for line in proc.stdout.splitlines() + proc.stderr.splitlines():
                _classify_line(line, version, passed, report.errors)
            if proc.returncode != 0 and not report.errors:
                report.errors.append(f"kubernetes-validate exited {proc.returncode} for {version}: {proc.stderr}")
    return report


def _classify_line(line: str, version: str, passed: set[str], errors: list[str]) -> None:
    match = _RESULT_LINE.match(line.strip())
    if match is None:
        return
    level, text = match.groups()
    if level == "INFO" and (ok := _PASSED.search(text)):
        passed.add(ok.group(1))
    elif level == "WARN" and (missing := _NO_SCHEMA.search(text)):
        kind, api_version = missing.groups()
        if (api_version, kind) not in CRD_SCHEMAS:
            errors.append(f"[{version}] no schema for {api_version} {kind}: add one to deploy/k8s/schemas")
    else:
        errors.append(f"[{version}] {line.strip()}")


@cache
def _crd_schema(filename: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / filename).read_text())


def validate_crds(documents: list[dict[str, Any]], report: ValidationReport) -> None:
    """Validate every custom resource in `documents` against its JSON schema in deploy/k8s/schemas."""
    for doc in documents:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key not in CRD_SCHEMAS:
            continue
        name = f"{doc['kind'].lower()}/{doc.get('metadata', {}).get('name')}"
        validator = jsonschema.Draft202012Validator(_crd_schema(CRD_SCHEMAS[key]))
        problems = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        for problem in problems:
            path = ".".join(str(p) for p in problem.path) or "<root>"
            report.errors.append(f"{name}: {path}: {problem.message}")
        if not problems:
            report.crd_checked.add(name)


def validate_rendered(rendered: str, versions: tuple[str, ...] = KUBERNETES_VERSIONS) -> ValidationReport:
    """All checks on one rendered stream; every document must be covered by one of them."""
    documents = load_documents(rendered)
    report = validate_builtin(rendered, versions)
    validate_crds(documents, report)
    for version in versions:
        for doc in documents:
            name = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
            covered = name in report.passed.get(version, set()) or name in report.crd_checked
            if not covered and not any(name in e for e in report.errors):
                report.errors.append(f"[{version}] {name} was not validated")
    return report


def main(argv: list[str] | None = None) -> int:
    """Render and validate the named kustomizations (default: all); print a summary per kustomization."""
    targets = kustomizations()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"kustomizations to check (default: all of {sorted(targets)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(targets))
    if unknown:
        parser.error(f"unknown kustomization(s) {unknown}; known: {sorted(targets)}")
    failed = False
    for name in args.names or list(targets):
        report = validate_rendered(render(targets[name]))
        counts = {v: len(p) for v, p in report.passed.items()}
        print(f"{name}: builtin passed {counts}, CRDs checked {sorted(report.crd_checked)}")
        for error in report.errors:
            print(f"  ERROR {error}")
        failed |= not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
