"""Run the bundled ``tritonserver`` locally with the python-flavour encoder repository."""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

from encoders.artifacts import ensure_onnx_artifacts
from encoders.settings import REPO_ROOT
from encoders.triton.model_configs import IMAGE_ENCODER, TEXT_ENCODER
from encoders.triton.repository import generate_repository
from encoders.triton.server_binary import prepare_server, server_environment
from encoders.triton.settings import Flavor, LauncherSettings, RepositorySettings
from kairos.harness.ports import free_port
from kairos.harness.process import ServerProcess
from kairos.harness.readiness import http_ready

LOG = logging.getLogger(__name__)


class TritonStartupError(RuntimeError):
    """The server exited or did not become ready in time; the message carries the end of its log."""


class LocalTriton:
    """A local Triton serving text_embed / image_embed (python backend + ONNX Runtime).

    Use as a context manager, or call :meth:`start` / :meth:`stop`. URLs are known after :meth:`start`.
    """

    def __init__(
        self,
        settings: LauncherSettings | None = None,
        repository: RepositorySettings | None = None,
    ) -> None:
        self.settings = settings or LauncherSettings()
        self.repository_settings = repository or RepositorySettings()
        self._process: ServerProcess | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.workspace: Path | None = None
        self.http_port = self.grpc_port = self.metrics_port = 0

    @property
    def grpc_url(self) -> str:
        return f"{self.settings.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.host}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.settings.host}:{self.metrics_port}/metrics"

    @property
    def log_path(self) -> Path:
        assert self.workspace is not None
        return self.workspace / "tritonserver.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.alive()

    def _prepare_workspace(self) -> Path:
        if self.settings.workspace is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kairos-triton-")
            return Path(self._tmp.name)
        workspace = self.settings.workspace
        shutil.rmtree(workspace / "models", ignore_errors=True)
        workspace.mkdir(parents=True, exist_ok=True)
        return workspace

    def _command(self, binary: Path, repository: Path, backend_dir: Path) -> list[str]:
        s = self.settings
        shm_prefix = f"kairos_{uuid.uuid4().hex[:12]}_"
        return [
            str(binary),
            f"--model-repository={repository}",
            f"--backend-directory={backend_dir}",
            f"--backend-config=python,shm-region-prefix-name={shm_prefix}",
            f"--backend-config=python,shm-default-byte-size={s.python_shm_bytes}",
            f"--http-address={s.host}",
            f"--http-port={self.http_port}",
            f"--grpc-address={s.host}",
            f"--grpc-port={self.grpc_port}",
            "--allow-metrics=true",
            "--allow-gpu-metrics=false",
            f"--metrics-address={s.host}",
            f"--metrics-port={self.metrics_port}",
            "--strict-readiness=true",
            "--disable-auto-complete-config",
            f"--exit-timeout-secs={max(1, int(s.shutdown_timeout_s) - 2)}",
            f"--log-verbose={s.log_verbose}",
        ]

    def start(self) -> LocalTriton:
        """Generate the repository, start the server on free ports and wait until it is ready."""
        if self.running:
            return self
        s = self.settings
        self.workspace = self._prepare_workspace()
        enc = self.repository_settings.encoder
        cache_dir = s.onnx_cache_dir or enc.build_dir / "onnx-cache"
        artifacts = ensure_onnx_artifacts(cache_dir, enc.onnx_opset, enc.image_size)
        repository = self.workspace / "models"
        generate_repository(
            Flavor.PYTHON,
            repository,
            self.repository_settings,
            {TEXT_ENCODER: artifacts.text, IMAGE_ENCODER: artifacts.image},
            link_model_files=True,
        )
        layout = prepare_server(self.workspace / "server")
        self.http_port = s.http_port or free_port(s.host)
        self.grpc_port = s.grpc_port or free_port(s.host)
        self.metrics_port = s.metrics_port or free_port(s.host)
        env = server_environment(layout, [REPO_ROOT])
        command = self._command(layout.binary, repository, layout.backend_dir)
        LOG.info(
            "starting tritonserver",
            extra={
                "binary": str(layout.binary),
                "grpc_port": self.grpc_port,
                "http_port": self.http_port,
                "metrics_port": self.metrics_port,
            },
        )
        self.log_path.unlink(missing_ok=True)
        self._process = ServerProcess(command, self.log_path, env=env, python=False, new_session=True).start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None
        try:
            self._process.wait_ready(
                lambda: http_ready(f"{self.http_url}/v2/health/ready"), self.settings.startup_timeout_s, "tritonserver"
            )
        except (RuntimeError, TimeoutError) as exc:
            raise TritonStartupError(f"{exc}\n{self._process.log_tail()}") from exc
        LOG.info("tritonserver ready", extra={"grpc_url": self.grpc_url})

    def stop(self) -> int | None:
        """SIGTERM, wait ``shutdown_timeout_s``, then SIGKILL the process group. Returns the exit code."""
        process, self._process = self._process, None
        code = None if process is None else process.terminate(self.settings.shutdown_timeout_s)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code

    def __enter__(self) -> LocalTriton:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
