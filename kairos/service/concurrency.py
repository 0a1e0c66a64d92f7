"""Load shedding: beyond a fixed number of in-flight RPCs, answer RESOURCE_EXHAUSTED at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from kairos.service.interceptors import UnaryBehavior, wrap_unary_unary

EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ConcurrencyLimitInterceptor(grpc.aio.ServerInterceptor):
    """Admits at most `limit` concurrent unary RPCs; the rest fail fast instead of queueing.

    gRPC's own `maximum_concurrent_rpcs` rejects before interceptors run, so rejections would be invisible
    to the metrics and would also starve health checks; this one exempts health and reflection.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler_call_details.method.startswith(EXEMPT_PREFIXES):
            return handler

        def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
            async def limited(request: Any, context: grpc.aio.ServicerContext) -> Any:
                if self.in_flight >= self.limit:
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"server overloaded: {self.in_flight} RPCs in flight (limit {self.limit}); retry later",
                    )
                self.in_flight += 1
                try:
                    return await behavior(request, context)
                finally:
                    self.in_flight -= 1

            return limited

        return wrap_unary_unary(handler, wrap)
