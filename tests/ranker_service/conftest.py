"""Real servers for the ranker's integration tests: user-state, Triton, Redis and ranker processes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from kairos.v1 import ranker_pb2_grpc
from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT, ServerProcess, grpc_serving, wait_until
from tests.support.redis_server import RedisServer, redis_available

RANKER_SERVICE = "kairos.v1.Ranker"
TINY_CONFIG = Path(__file__).with_name("tiny_model.yaml")
ARTIFACT_CACHE = REPO_ROOT / "build" / "test-cache" / "ranker-service"
QUIET_ENV = {"KAIROS_RANKER_ENCODER_WARM_UP": "false"}


def _artifact_key() -> str:
    """Changes with the tiny config and the model code, so a cached artifact is never stale."""
    h = hashlib.sha256(TINY_CONFIG.read_bytes())
    for source in sorted((REPO_ROOT / "recmodel" / "model").glob("*.py")):
        h.update(source.read_bytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def artifact() -> Path:
    """A tiny model trained by `python -m recmodel.train` (about 40 s once; cached under build/ by content key)."""
    target = ARTIFACT_CACHE / f"tiny-{_artifact_key()}"
    if not (target / "model.pt").exists():
        ARTIFACT_CACHE.mkdir(parents=True, exist_ok=True)
        tmp = ARTIFACT_CACHE / f"{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        command = [sys.executable, "-m", "recmodel.train", "--config", str(TINY_CONFIG), "--out", str(tmp)]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        for stale in ARTIFACT_CACHE.glob("tiny-*"):
            if stale != tmp:  # the glob matches the fresh artifact's own temporary folder too
                shutil.rmtree(stale, ignore_errors=True)
        tmp.rename(target)
    return target


class RankerProcess:
    """`python -m ranker serve ...` on random ports, with a channel and stub for the test."""

    def __init__(self, proc: ServerProcess, port: int, metrics_port: int) -> None:
        self.proc = proc
        self.address = f"127.0.0.1:{port}"
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.channel = grpc.insecure_channel(self.address)
        self.stub = ranker_pb2_grpc.RankerStub(self.channel)

    def stop(self) -> int:
        self.channel.close()
        return self.proc.terminate()

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return response.read().decode()


RankerFactory = Callable[..., RankerProcess]


@pytest.fixture(scope="session")
def user_state_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real user-state server (embedded store) for the whole session."""
    workdir = tmp_path_factory.mktemp("user-state")
    port = free_port()
    args = ["-m", "user_state", "serve", "--store", "embedded", "--port", str(port), "--metrics-port", "0"]
    proc = ServerProcess([*args, "--data-dir", str(workdir / "data")], workdir / "server.log").start()
    address = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: grpc_serving(address) or not proc.alive(), 60, "user-state server")
        assert proc.alive(), proc.log_text()
        yield address
    finally:
        proc.terminate()


@pytest.fixture(scope="session")
def triton_url() -> Iterator[str]:
    """A real local Triton serving the item encoders (python backend + ONNX Runtime)."""
    from encoders.triton.launcher import LocalTriton

    try:
        triton = LocalTriton().start()
    except Exception as exc:  # the bundled tritonserver cannot run here
        pytest.skip(f"local Triton unavailable: {exc}")
    try:
        yield triton.grpc_url
    finally:
        triton.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a random port (stopped after the test)."""
    if not redis_available():
        pytest.skip("redis-server is not installed")
    with RedisServer(tmp_path / "redis") as redis:
        yield redis


def launch_ranker(
    workdir: Path, artifact: Path, user_state: str, *extra: str, name: str = "ranker", env: dict | None = None
) -> RankerProcess:
    """Start `python -m ranker serve` on random ports and wait until it reports SERVING."""
    port, metrics_port = free_port(), free_port()
    args = ["-m", "ranker", "serve", "--artifact", str(artifact), "--user-state", user_state]
    args += ["--port", str(port), "--metrics-port", str(metrics_port), "--data-dir", str(workdir / name)]
    args += ["--log-format", "text", "--artifact-poll-s", "0", *extra]
    if "--triton" not in extra:
        args.append("--in-process")
    proc = ServerProcess(args, workdir / f"{name}.log", env={**QUIET_ENV, **(env or {})}).start()
    ranker = RankerProcess(proc, port, metrics_port)
    try:
        wait_until(lambda: grpc_serving(ranker.address, RANKER_SERVICE) or not proc.alive(), 120, f"ranker {name}")
    except TimeoutError:
        ranker.stop()
        raise
    if not proc.alive():
        raise AssertionError(f"ranker {name} exited:\n{proc.log_text()[-4000:]}")
    return ranker


@pytest.fixture
def start_ranker(tmp_path: Path) -> Iterator[RankerFactory]:
    """Factory: start a ranker process (stopped after the test)."""
    started: list[RankerProcess] = []

    def factory(artifact: Path, user_state: str, *extra: str, name: str = "ranker", env: dict | None = None):
        ranker = launch_ranker(tmp_path, artifact, user_state, *extra, name=name, env=env)
        started.append(ranker)
        return ranker

    yield factory
    for ranker in started:
        ranker.stop()


def copy_artifact(source: Path, target: Path) -> Path:
    """A copy of an artifact under another folder name: a new model version (the version names the folder)."""
    shutil.copytree(os.path.realpath(source), target, ignore=shutil.ignore_patterns("checkpoints"))
    return target
