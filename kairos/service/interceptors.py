"""A helper to wrap unary-unary handlers in grpc.aio server interceptors."""

from __future__ import annotations

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
