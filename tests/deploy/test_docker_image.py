"""The container image builds from a clean clone: replay the Dockerfile's build-stage steps without a Docker
engine (its COPY sources filtered by .dockerignore, its stub-generation RUN, the wheel its `pip install .` builds)
and import the services' entry points from that wheel alone."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
ENTRY_MODULES = (
    "user_state.cli",
    "user_state.app",
    "ranker.service.cli",
    "ranker.service.app",
    "recmodel.retrain.run",  # the retraining CronJob's `python -m recmodel.retrain`
    "kairos.v1.ranker_pb2_grpc",
    "kairos.v1.user_state_pb2_grpc",
)

pytestmark = pytest.mark.slow


def _build_stage() -> list[str]:
    lines, inside = [], False
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("FROM "):
            inside = line.endswith(" AS build")
            continue
        if inside and line and not line.startswith("#"):
            lines.append(line)
    return lines


def _ignored(relative: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        bare = pattern.rstrip("/")
        if fnmatch.fnmatch(relative, bare) or relative.startswith(bare + "/"):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatch(Path(relative).name, pattern[3:]):
            return True
    return False


def _context_copy(source: str, target: Path, patterns: list[str]) -> None:
    root = REPO / source
    files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        relative = path.relative_to(REPO).as_posix()
        if any(_ignored(part, patterns) for part in _prefixes(relative)):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def _prefixes(relative: str) -> list[str]:
    parts = relative.split("/")
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def test_dockerignore_keeps_local_state_and_stubs_out() -> None:
    patterns = [p for p in (REPO / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    for local in (".venv/bin/python", "var/cache/x", "artifacts/ml100k-full/model.pt", "kairos/v1/ranker_pb2.py"):
        assert any(_ignored(p, patterns) for p in _prefixes(local)), local
    assert not any(_ignored(p, patterns) for p in _prefixes("ranker/service/app.py"))


def test_the_build_stage_produces_every_module_the_services_import(tmp_path: Path) -> None:
    patterns = [p for p in (REPO / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    context = tmp_path / "src"
    steps = _build_stage()
    copies = [line.split()[1:] for line in steps if line.startswith("COPY ") and "--from" not in line]
    assert copies, "the build stage copies the sources"
    for *sources, _ in copies:
        for source in sources:
            _context_copy(source.rstrip("/"), context, patterns)
    assert not list((context / "kairos" / "v1").glob("*_pb2*.py")), "stubs must be generated, not copied"
    protoc = [line for line in steps if "grpc_tools.protoc" in line]
    assert len(protoc) == 1, "the build stage generates the gRPC stubs"
    command = protoc[0].removeprefix("RUN ").replace("python ", f"{sys.executable} ", 1)
    subprocess.run(command, shell=True, cwd=context, check=True)
    assert re.search(r"pip install --no-deps --no-build-isolation \.$", "\n".join(steps), re.M)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), "."],
        cwd=context,
        check=True,
    )
    wheel = next(dist.glob("kairos-*.whl"))
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    probe = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(unpacked)!r})\n"
        f"for name in {ENTRY_MODULES!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(unpacked)!r}), (name, module.__file__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
