"""Bearer-token authentication as a server interceptor (health checks exempt)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from kairos.service.interceptors import UnaryBehavior, wrap_unary_unary

EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)


def load_tokens(path: Path) -> list[bytes]:
    """Read accepted tokens, one per line (blank lines and '#' comments ignored), e.g. a mounted Secret."""
    tokens = [line.strip() for line in path.read_text().splitlines()]
    tokens = [t for t in tokens if t and not t.startswith("#")]
    if not tokens:
        raise ValueError(f"auth_tokens_file {path} holds no token")
    return [t.encode() for t in tokens]


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without `authorization: Bearer <token>` matching an accepted token (UNAUTHENTICATED)."""

    def __init__(self, tokens: list[bytes]) -> None:
        self._tokens = tokens

    def _accepted(self, metadata: tuple[tuple[str, str | bytes], ...] | None) -> bool:
        header = next((v for k, v in metadata or () if k == "authorization"), None)
        if header is None:
            return False
        value = header.encode() if isinstance(header, str) else header
        if not value.startswith(b"Bearer "):
            return False
        presented = value[len(b"Bearer ") :]
        # Compare against every token so timing reveals neither which token nor how much of it matched.
        matches = [hmac.compare_digest(presented, token) for token in self._tokens]
        return any(matches)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler_call_details.method.startswith(EXEMPT_PREFIXES):
            return handler
        accepted = self._accepted(handler_call_details.invocation_metadata)

        def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
            async def authenticated(request: Any, context: grpc.aio.ServicerContext) -> Any:
                if not accepted:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
                return await behavior(request, context)

            return authenticated

        return wrap_unary_unary(handler, wrap)
