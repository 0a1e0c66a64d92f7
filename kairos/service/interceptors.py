"""grpc.aio server interceptors: one base class, so each interceptor only states its own concern."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def split_method(full_method: str) -> tuple[str, str]:
    """'/kairos.v1.UserState/AppendEvents' -> ('kairos.v1.UserState', 'AppendEvents')."""
    _, service, method = full_method.split("/", 2)
    return service, method


def wrap_unary_unary(
    handler: grpc.RpcMethodHandler | None, wrap: Callable[[UnaryBehavior], UnaryBehavior]
) -> grpc.RpcMethodHandler | None:
    """Return `handler` with its unary-unary behaviour wrapped; other kinds of handler pass through."""
    if handler is None or handler.unary_unary is None:
        return handler
    return grpc.unary_unary_rpc_method_handler(
        wrap(handler.unary_unary),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class UnaryInterceptor(grpc.aio.ServerInterceptor):
    """A server interceptor around every unary-unary RPC but those under `exempt_prefixes`.

    Subclasses implement `around`, which gets the call's details (method, invocation metadata), the request, the
    context and `call_next` (the rest of the chain: `await call_next(request, context)`); streaming handlers pass
    through untouched. `adapt` may replace the wrapped handler's (de)serialisers.
    """

    exempt_prefixes: tuple[str, ...] = ()

    async def around(
        self,
        details: grpc.HandlerCallDetails,
        request: Any,
        context: grpc.aio.ServicerContext,
        call_next: UnaryBehavior,
    ) -> Any:
        raise NotImplementedError

    def adapt(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The wrapped unary-unary handler as served (default: unchanged)."""
        return handler

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler_call_details.method.startswith(self.exempt_prefixes):
            return handler

        def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
            return functools.partial(self.around, handler_call_details, call_next=behavior)

        wrapped = wrap_unary_unary(handler, wrap)
        if wrapped is None or wrapped.unary_unary is None:
            return wrapped
        return self.adapt(wrapped)
