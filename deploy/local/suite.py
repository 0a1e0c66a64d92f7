"""The local suite on its embedded defaults: local Triton, user-state (embedded store) and the ranker."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable
from pathlib import Path

from deploy.local.processes import ProcessSupervisor, ServiceSpec, grpc_health_serving
from deploy.local.settings import SuiteSettings

log = logging.getLogger(__name__)

ORDER = ("triton", "user_state", "ranker")


def http_ready(url: str) -> Callable[[], bool]:
    """Readiness probe: an HTTP GET answers 200."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    return probe


class LocalSuite:
    """Starts the three services in dependency order and stops them in reverse (SIGTERM: graceful drain)."""

    def __init__(self, settings: SuiteSettings) -> None:
        self.settings = settings
        self.supervisor = ProcessSupervisor(settings.pid_dir, settings.log_dir)

    @property
    def user_state_address(self) -> str:
        return f"{self.settings.host}:{self.settings.user_state_port}"

    @property
    def ranker_address(self) -> str:
        return f"{self.settings.host}:{self.settings.ranker_port}"

    @property
    def triton_address(self) -> str:
        return f"{self.settings.host}:{self.settings.triton_grpc_port}"

    def specs(self, artifact: Path) -> list[ServiceSpec]:
        s = self.settings
        return [
            ServiceSpec(
                "triton",
                ["encoders.triton", "serve", "--workspace", str(s.state_dir / "triton"),
                 "--http-port", str(s.triton_http_port), "--grpc-port", str(s.triton_grpc_port),
                 "--metrics-port", str(s.triton_metrics_port)],
                http_ready(f"http://{s.host}:{s.triton_http_port}/v2/health/ready"),
            ),
            ServiceSpec(
                "user_state",
                ["user_state", "serve", "--store", "embedded", "--data-dir", str(s.state_dir / "user_state"),
                 "--host", s.host, "--port", str(s.user_state_port), "--metrics-port", str(s.user_state_metrics_port)],
                grpc_health_serving(self.user_state_address),
            ),
            ServiceSpec(
                "ranker",
                ["ranker", "serve", "--artifact", str(artifact), "--user-state", self.user_state_address,
                 "--triton", self.triton_address, "--data-dir", str(s.state_dir / "ranker"),
                 "--host", s.host, "--port", str(s.ranker_port), "--metrics-port", str(s.ranker_metrics_port)],
                grpc_health_serving(self.ranker_address),
            ),
        ]  # fmt: skip

    def start(self, artifact: Path) -> None:
        """Start every service not yet running and wait until each reports ready."""
        for spec in self.specs(artifact):
            pid = self.supervisor.start(spec, self.settings.start_timeout_s)
            log.info("%s ready (pid %d)", spec.name, pid)

    def stop(self) -> None:
        """Stop every running service, the ranker first."""
        for name in reversed(ORDER):
            if self.supervisor.stop(name, self.settings.stop_timeout_s):
                log.info("%s stopped", name)

    def status(self) -> dict[str, int | None]:
        """Pid of every service, None when not running."""
        return {name: self.supervisor.pid_of(name) for name in ORDER}
