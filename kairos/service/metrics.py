"""Prometheus metrics: per-method latency, status codes and in-flight RPCs, served over HTTP."""

from __future__ import annotations

import time
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from kairos.service.interceptors import UnaryBehavior, UnaryInterceptor, split_method

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RpcMetrics:
    """The RPC metrics of one server, registered in its own registry (several servers may share a process)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        labels = ("service", "method")
        self.latency = Histogram(
            "kairos_rpc_latency_seconds", "RPC latency", labels, registry=registry, buckets=LATENCY_BUCKETS_S
        )
        self.total = Counter("kairos_rpc_total", "RPCs by status code", (*labels, "code"), registry=registry)
        self.in_flight = Gauge("kairos_rpc_in_flight", "RPCs being served", labels, registry=registry)


class MetricsInterceptor(UnaryInterceptor):
    """Records latency, final status code and in-flight count of every unary RPC."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self.metrics = metrics

    async def around(
        self,
        details: grpc.HandlerCallDetails,
        request: Any,
        context: grpc.aio.ServicerContext,
        call_next: UnaryBehavior,
    ) -> Any:
        m = self.metrics
        service, method = split_method(details.method)
        in_flight = m.in_flight.labels(service, method)
        in_flight.inc()
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await call_next(request, context)
        except grpc.aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except BaseException:
            code = grpc.StatusCode.UNKNOWN
            raise
        finally:
            if code is grpc.StatusCode.OK and context.code() not in (None, grpc.StatusCode.OK):
                code = context.code()
            in_flight.dec()
            m.latency.labels(service, method).observe(time.perf_counter() - start)
            m.total.labels(service, method, code.name).inc()


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> tuple[Any, int]:
    """Start the /metrics HTTP server in a daemon thread; return (server, bound port)."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, server.server_port
