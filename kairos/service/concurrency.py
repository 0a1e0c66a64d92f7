"""Load shedding: beyond a fixed number of in-flight RPCs, answer RESOURCE_EXHAUSTED at once."""

from __future__ import annotations

from typing import Any

import grpc

from kairos.service.interceptors import UnaryBehavior, UnaryInterceptor

EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ConcurrencyLimitInterceptor(UnaryInterceptor):
    """Admits at most `limit` concurrent unary RPCs; the rest fail fast instead of queueing.

    gRPC's own `maximum_concurrent_rpcs` rejects before interceptors run, so rejections would be invisible
    to the metrics and would also starve health checks; this one exempts health and reflection.
    """

    exempt_prefixes = EXEMPT_PREFIXES

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    async def around(
        self,
        details: grpc.HandlerCallDetails,
        request: Any,
        context: grpc.aio.ServicerContext,
        call_next: UnaryBehavior,
    ) -> Any:
        if self.in_flight >= self.limit:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"server overloaded: {self.in_flight} RPCs in flight (limit {self.limit}); retry later",
            )
        self.in_flight += 1
        try:
            return await call_next(request, context)
        finally:
            self.in_flight -= 1
