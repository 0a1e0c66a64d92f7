"""kairos.harness against real processes: a service started until healthy and stopped with SIGTERM, a process
that ignores SIGTERM killed, a start-up crash reported with its log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kairos.harness import ServerProcess, free_port, grpc_serving, running, stop_pid

pytestmark = pytest.mark.integration


def test_a_real_service_runs_until_healthy_and_drains_on_sigterm(tmp_path: Path) -> None:
    port, metrics = free_port(), free_port()
    address = f"127.0.0.1:{port}"
    args = ["-m", "user_state", "serve", "--store", "embedded", "--port", str(port), "--metrics-port", str(metrics)]
    args += ["--data-dir", str(tmp_path / "data"), "--log-format", "text"]
    with running(args, tmp_path / "us.log", lambda: grpc_serving(address), 60, "user-state") as process:
        assert grpc_serving(address) and process.alive()
    assert not process.alive() and process.proc is not None and process.proc.returncode == 0
    assert not grpc_serving(address)


def test_sigterm_ignored_means_sigkill(tmp_path: Path) -> None:
    stubborn = [
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)",
    ]
    process = ServerProcess(stubborn, tmp_path / "stubborn.log").start()
    process.wait_ready(lambda: "up" in process.log_text(), 10, "stubborn")
    started = time.monotonic()
    assert process.terminate(timeout_s=0.5) == -9  # SIGKILL after the grace period
    assert time.monotonic() - started < 5
    other = ServerProcess(stubborn, tmp_path / "other.log").start()
    other.wait_ready(lambda: "up" in other.log_text(), 10, "stubborn")
    assert stop_pid(other.pid, 0.5) is True  # it had to be killed
    assert other.proc is not None and other.proc.wait(5) == -9


def test_a_crash_during_start_up_is_reported_with_its_log(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match=r"(?s)crasher exited with code 3.*boom"),
        running(["-c", "import sys; print('boom'); sys.exit(3)"], tmp_path / "c.log", lambda: False, 10, "crasher"),
    ):
        pass
