"""gRPC server bootstrap: interceptors, health, reflection, metrics endpoint, TLS and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry

from kairos.service.auth import BearerTokenInterceptor, load_tokens
from kairos.service.concurrency import ConcurrencyLimitInterceptor
from kairos.service.errors import ErrorMappingInterceptor
from kairos.service.gc_pauses import freeze_heap
from kairos.service.metrics import MetricsInterceptor, RpcMetrics, serve_metrics
from kairos.service.settings import ServiceSettings
from kairos.service.tls import server_credentials

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceRegistration:
    """One gRPC service to host: its full name (for health/reflection) and how to add it to a server."""

    name: str
    register: Callable[[grpc.aio.Server], None]


class KairosServer:
    """A grpc.aio server with the plumbing every Kairos service shares.

    Interceptors, outermost first: metrics, authentication (when configured), concurrency limit, error mapping.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        services: Sequence[ServiceRegistration],
        registry: CollectorRegistry | None = None,
        on_stop: Callable[[], object] | None = None,
        serving_on_start: bool = True,
    ) -> None:
        self.settings = settings
        self.services = list(services)
        self.registry = registry or CollectorRegistry()
        self.metrics = RpcMetrics(self.registry)
        self.health = health.aio.HealthServicer()
        self._on_stop = on_stop
        self._ready = serving_on_start
        self._started = False
        self._metrics_http = None
        self._stopping: asyncio.Task[None] | None = None
        self.port = 0
        self.metrics_port: int | None = None

        interceptors: list[grpc.aio.ServerInterceptor] = [MetricsInterceptor(self.metrics)]
        if settings.auth_tokens_file is not None:
            interceptors.append(BearerTokenInterceptor(load_tokens(settings.auth_tokens_file)))
        interceptors += [ConcurrencyLimitInterceptor(settings.max_concurrent_rpcs), ErrorMappingInterceptor()]
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_send_message_length", settings.max_message_bytes),
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                ("grpc.so_reuseport", 0),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        for service in self.services:
            service.register(self.server)
        names = [s.name for s in self.services]
        reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)

    @property
    def address(self) -> str:
        """host:port clients use to reach this server."""
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "[::]", "::") else self.settings.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start; report SERVING for every hosted service, or NOT_SERVING until `mark_serving`."""
        s = self.settings
        bind = f"{s.host}:{s.port}"
        creds = server_credentials(s.tls_cert_file, s.tls_key_file, s.tls_client_ca_file)
        self.port = self.server.add_secure_port(bind, creds) if creds else self.server.add_insecure_port(bind)
        if self.port == 0:
            raise OSError(f"could not bind gRPC port {bind}")
        await self.server.start()
        if s.metrics_port is not None:
            self._metrics_http, self.metrics_port = serve_metrics(self.registry, s.host, s.metrics_port)
        self._started = True
        ready = health_pb2.HealthCheckResponse.SERVING if self._ready else health_pb2.HealthCheckResponse.NOT_SERVING
        if self._ready and s.gc_freeze:
            freeze_heap()
        await self._report(ready)
        log.info(
            "serving",
            extra={"address": self.address, "metrics_port": self.metrics_port, "tls": creds is not None},
        )

    async def mark_serving(self) -> None:
        """Report SERVING for the server and every hosted service, now or as soon as it starts.

        Ignored once a graceful stop began.
        """
        self._ready = True
        if self._started:
            if self.settings.gc_freeze:
                freeze_heap()  # what readiness allocated (e.g. warmed-up encoders) is long-lived too
            await self._report(health_pb2.HealthCheckResponse.SERVING)

    async def _report(self, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        for name in ["", *(svc.name for svc in self.services)]:
            await self.health.set(name, status)

    async def stop(self, grace_s: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, keep answering for shutdown_delay_s, refuse new calls, drain, close."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(grace_s))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace_s: float | None) -> None:
        grace = self.settings.grace_period_s if grace_s is None else grace_s
        log.info("shutting down", extra={"grace_s": grace, "delay_s": self.settings.shutdown_delay_s})
        await self.health.enter_graceful_shutdown()
        if self.settings.shutdown_delay_s > 0:
            await asyncio.sleep(self.settings.shutdown_delay_s)
        await self.server.stop(grace)
        if self._on_stop is not None:
            result = self._on_stop()
            if asyncio.iscoroutine(result):
                await result
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        log.info("stopped")

    async def serve_until_signalled(self) -> None:
        """Start, then run until SIGTERM/SIGINT triggers a graceful stop."""
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.stop()))
        await self.server.wait_for_termination()
        if self._stopping is not None:
            await self._stopping
