"""Start real Kairos server processes (user-state, ranker) for reliability tests, plain or with TLS/tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.ports import free_port
from tests.support.processes import ServerProcess, wait_until

USER_STATE = "kairos.v1.UserState"
RANKER = "kairos.v1.Ranker"
# Keeps the in-process encoders from loading at start-up in processes that never upsert.
RANKER_QUIET_ENV = {"KAIROS_RANKER_ENCODER_WARM_UP": "false"}


@dataclass(frozen=True)
class ClientCredentials:
    """What a test client presents: TLS roots, an optional client certificate (mTLS) and a bearer token."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    token: str | None = None

    def channel(self, address: str, options: Sequence[tuple[str, object]] = ()) -> grpc.Channel:
        """A blocking channel to `address` (TLS when `ca_file` is set)."""
        if self.ca_file is None:
            return grpc.insecure_channel(address, options=list(options))
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes(),
            private_key=self.key_file.read_bytes() if self.key_file else None,
            certificate_chain=self.cert_file.read_bytes() if self.cert_file else None,
        )
        return grpc.secure_channel(address, creds, options=list(options))

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata carrying the bearer token, if any."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


def health_status(address: str, service: str, creds: ClientCredentials, timeout_s: float = 1.0) -> int | None:
    """The health status of `service` at `address`, or None when the server cannot be reached."""
    try:
        with creds.channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
            return reply.status
    except grpc.RpcError:
        return None


def serving(address: str, service: str, creds: ClientCredentials | None = None) -> bool:
    """True when `service` reports SERVING."""
    return health_status(address, service, creds or ClientCredentials()) == health_pb2.HealthCheckResponse.SERVING


@dataclass
class Served:
    """A started server process and how to reach it."""

    proc: ServerProcess
    port: int
    metrics_port: int
    service: str
    creds: ClientCredentials = field(default_factory=ClientCredentials)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self) -> grpc.Channel:
        return self.creds.channel(self.address)

    def rss_bytes(self) -> int:
        """Resident memory of the server process."""
        return psutil.Process(self.proc.pid).memory_info().rss

    def healthy(self) -> bool:
        return serving(self.address, self.service, self.creds)

    def stop(self) -> int:
        return self.proc.terminate()


def _start(
    module_args: list[str],
    service: str,
    log_path: Path,
    env: dict[str, str] | None,
    creds: ClientCredentials | None,
    timeout_s: float,
    port: int | None = None,
) -> Served:
    port = port or free_port()
    metrics_port = free_port()
    args = [*module_args, "--port", str(port), "--metrics-port", str(metrics_port)]
    proc = ServerProcess(args, log_path, env=env).start()
    served = Served(proc, port, metrics_port, service, creds or ClientCredentials())
    try:
        wait_until(lambda: served.healthy() or not proc.alive(), timeout_s, f"{service} at {served.address}")
    except TimeoutError:
        proc.kill9()
        raise
    if not proc.alive():
        raise AssertionError(f"{service} exited at start-up:\n{proc.log_text()[-4000:]}")
    return served


def start_user_state(
    workdir: Path,
    *extra: str,
    name: str = "user-state",
    env: dict[str, str] | None = None,
    creds: ClientCredentials | None = None,
    port: int | None = None,
) -> Served:
    """`python -m user_state serve` (embedded store under workdir/<name>-data unless `extra` says otherwise)."""
    args = ["-m", "user_state", "serve", "--log-format", "text"]
    if "--store" not in extra and "--data-dir" not in extra:
        args += ["--data-dir", str(workdir / f"{name}-data")]
    return _start([*args, *extra], USER_STATE, workdir / f"{name}.log", env, creds, 60, port)


def start_ranker(
    workdir: Path,
    artifact: Path,
    user_state_address: str,
    *extra: str,
    name: str = "ranker",
    env: dict[str, str] | None = None,
    creds: ClientCredentials | None = None,
) -> Served:
    """`python -m ranker serve` with in-process encoders unless `extra` names --triton."""
    args = ["-m", "ranker", "serve", "--artifact", str(artifact), "--user-state", user_state_address]
    args += ["--data-dir", str(workdir / f"{name}-data"), "--log-format", "text", "--artifact-poll-s", "0"]
    if "--triton" not in extra:
        args.append("--in-process")
    return _start([*args, *extra], RANKER, workdir / f"{name}.log", {**RANKER_QUIET_ENV, **(env or {})}, creds, 180)
