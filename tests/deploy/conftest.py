"""Shared fixtures: each kustomization rendered once per session."""

from __future__ import annotations

import pytest

from deploy.k8s.validate import kustomizations, load_documents, render
from tests.deploy.manifest_queries import Doc, require_binary


@pytest.fixture(scope="session")
def rendered_text() -> dict[str, str]:
    """`kubectl kustomize` output of every kustomization, by name (overlays/cpu, overlays/gpu, ...)."""
    require_binary("kubectl")
    return {name: render(path) for name, path in kustomizations().items()}


@pytest.fixture(scope="session")
def rendered(rendered_text: dict[str, str]) -> dict[str, list[Doc]]:
    """Parsed documents of every kustomization, by name."""
    return {name: load_documents(text) for name, text in rendered_text.items()}
