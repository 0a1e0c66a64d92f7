"""Start, watch and stop the suite's server processes (detached, with pid files, so `make down` finds them)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.local.settings import REPO_ROOT
from kairos.harness.readiness import grpc_serving
from kairos.harness.signals import alive, stop_pid


@dataclass(frozen=True)
class ServiceSpec:
    """One process of the suite: its name, its `python -m` arguments and how to know it is ready."""

    name: str
    args: list[str]
    ready: Callable[[], bool]


def grpc_health_serving(address: str) -> Callable[[], bool]:
    """Readiness probe: the standard gRPC health service answers SERVING."""
    return lambda: grpc_serving(address, timeout_s=1.0)


class ProcessSupervisor:
    """Runs services as detached processes; their pids live in `pid_dir`, their output in `log_dir`."""

    def __init__(self, pid_dir: Path, log_dir: Path) -> None:
        self.pid_dir = pid_dir
        self.log_dir = log_dir

    def pid_of(self, name: str) -> int | None:
        path = self.pid_dir / f"{name}.pid"
        if not path.is_file():
            return None
        pid = int(path.read_text())
        if not alive(pid):
            path.unlink(missing_ok=True)
            return None
        return pid

    def start(self, spec: ServiceSpec, timeout_s: float) -> int:
        """Start `spec` unless it already runs, wait until ready, return its pid."""
        pid = self.pid_of(spec.name)
        if pid is not None and spec.ready():
            return pid
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", *spec.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        (self.pid_dir / f"{spec.name}.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{spec.name} exited with code {proc.returncode} during start-up:\n{tail}")
            if spec.ready():
                return proc.pid
            time.sleep(0.25)
        self.stop(spec.name, timeout_s=10)
        raise TimeoutError(f"{spec.name} not ready after {timeout_s:.0f}s; see {log_path}")

    def stop(self, name: str, timeout_s: float) -> bool:
        """SIGTERM (graceful drain), then SIGKILL after `timeout_s`; True when it was running."""
        pid = self.pid_of(name)
        if pid is None:
            return False
        stop_pid(pid, timeout_s)
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)
        return True
