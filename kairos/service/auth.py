"""Bearer-token authentication and scope authorisation as a server interceptor (health checks exempt).

The tokens file (e.g. a mounted Secret) holds one token per line, optionally followed by its scopes::

    # rotated 2026-11
    3f9c...e1  recommend
    8a71...02  events:write,events:read
    c0de...99  admin

A bare token (today's format) has every scope; the server logs that once as a warning. A call without a valid
token is UNAUTHENTICATED; a valid token without the RPC's scope (:mod:`kairos.service.scopes`) is
PERMISSION_DENIED with a message naming the missing scope.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from kairos.service.interceptors import UnaryBehavior, UnaryInterceptor
from kairos.service.scopes import SCOPES, allows, required_scope

EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedToken:
    """A token the server accepts and the scopes it grants."""

    secret: bytes
    scopes: frozenset[str]


def load_tokens(path: Path) -> list[AcceptedToken]:
    """Accepted tokens and their scopes (blank lines and '#' comments ignored); errors name the line."""
    tokens: list[AcceptedToken] = []
    bare = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        secret, _, rest = line.partition(" ")
        if not rest.strip():
            bare += 1
            tokens.append(AcceptedToken(secret.encode(), SCOPES))
            continue
        scopes = frozenset(s.strip() for s in rest.replace(" ", ",").split(",") if s.strip())
        unknown = sorted(scopes - SCOPES)
        if unknown:
            raise ValueError(
                f"auth_tokens_file {path} line {number}: unknown scope(s) {unknown}; known {sorted(SCOPES)}"
            )
        tokens.append(AcceptedToken(secret.encode(), scopes))
    if not tokens:
        raise ValueError(f"auth_tokens_file {path} holds no token")
    if bare:
        log.warning(
            "token(s) without scopes are granted every scope", extra={"auth_tokens_file": str(path), "tokens": bare}
        )
    return tokens


class BearerTokenInterceptor(UnaryInterceptor):
    """Rejects calls without `authorization: Bearer <token>` matching an accepted token (UNAUTHENTICATED), and
    calls whose token lacks the RPC's scope (PERMISSION_DENIED)."""

    exempt_prefixes = EXEMPT_PREFIXES

    def __init__(self, tokens: list[AcceptedToken]) -> None:
        self._tokens = tokens

    def _match(self, metadata: tuple[tuple[str, str | bytes], ...] | None) -> AcceptedToken | None:
        header = next((v for k, v in metadata or () if k == "authorization"), None)
        if header is None:
            return None
        value = header.encode() if isinstance(header, str) else header
        if not value.startswith(b"Bearer "):
            return None
        presented = value[len(b"Bearer ") :]
        # Compare against every token so timing reveals neither which token nor how much of it matched.
        matches = [hmac.compare_digest(presented, token.secret) for token in self._tokens]
        return next((token for token, ok in zip(self._tokens, matches, strict=True) if ok), None)

    async def around(
        self,
        details: grpc.HandlerCallDetails,
        request: Any,
        context: grpc.aio.ServicerContext,
        call_next: UnaryBehavior,
    ) -> Any:
        method = details.method
        token = self._match(details.invocation_metadata)
        if token is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        elif not allows(token.scopes, method):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"token lacks scope {required_scope(method)!r} required by {method}",
            )
        return await call_next(request, context)
