"""The local suite's supervisor with a real user-state process: ready, found again by pid file, stopped by SIGTERM."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.local.processes import ProcessSupervisor, ServiceSpec, grpc_health_serving
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


def user_state_spec(tmp_path: Path, port: int, extra: list[str] | None = None) -> ServiceSpec:
    args = ["user_state", "serve", "--store", "embedded", "--data-dir", str(tmp_path / "data"),
            "--port", str(port), "--metrics-port", "0", *(extra or [])]  # fmt: skip
    return ServiceSpec("user_state", args, grpc_health_serving(f"127.0.0.1:{port}"))


def test_start_is_idempotent_and_stop_is_graceful(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor(tmp_path / "pids", tmp_path / "logs")
    spec = user_state_spec(tmp_path, free_port())
    pid = supervisor.start(spec, timeout_s=60)
    assert spec.ready()
    assert supervisor.pid_of("user_state") == pid
    assert supervisor.start(spec, timeout_s=60) == pid, "a running, ready service is not started twice"
    assert supervisor.stop("user_state", timeout_s=20) is True
    assert supervisor.pid_of("user_state") is None
    assert not spec.ready()
    assert supervisor.stop("user_state", timeout_s=1) is False
    assert '"stopped"' in (tmp_path / "logs" / "user_state.log").read_text(), "SIGTERM ran the graceful path"


def test_a_service_that_dies_at_start_up_is_reported_with_its_log(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor(tmp_path / "pids", tmp_path / "logs")
    spec = user_state_spec(tmp_path, free_port(), ["--max-events-per-user", "-5"])
    with pytest.raises(RuntimeError, match=r"user_state exited with code 2[\s\S]*max_events_per_user"):
        supervisor.start(spec, timeout_s=60)
    assert supervisor.pid_of("user_state") is None
