"""Small queries over rendered Kubernetes documents, shared by the deploy tests."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.k8s.validate import ToolMissingError, require_tool

Doc = dict[str, Any]


def require_binary(name: str) -> None:
    """Skip the calling test when `name` is not installed (CI installs it: scripts/system-deps.sh)."""
    try:
        require_tool(name)
    except ToolMissingError as exc:
        pytest.skip(str(exc))


def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    """Documents of `kind` (and `name`, when given)."""
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    """The single document of `kind` named `name`."""
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(workload: Doc) -> Doc:
    return workload["spec"]["template"]["spec"]


def all_containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def workloads(docs: list[Doc]) -> list[Doc]:
    """Deployments, StatefulSets and Jobs."""
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]


def env_value(docs: list[Doc], configmap_prefix: str, key: str) -> str:
    """A key of the (hash-suffixed) ConfigMap whose name starts with `configmap_prefix`."""
    maps = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"].startswith(configmap_prefix + "-")]
    assert len(maps) == 1, f"expected one ConfigMap {configmap_prefix}-<hash>, found {len(maps)}"
    return maps[0]["data"][key]
