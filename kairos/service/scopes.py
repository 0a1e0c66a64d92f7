"""Authorisation scopes: which scope each RPC needs.

A token carries scopes (``recommend``, ``events:read``, ``events:write``, ``items:write``, ``admin``); ``admin``
grants every RPC. Health checks need no token. Server reflection is a streaming RPC, which the token interceptor
(unary-only, :mod:`kairos.service.auth`) does not see, so it needs no token either, as before scopes; the rule
below would let any valid token call it. An RPC not listed here (a method added later without a scope) needs
``admin``, so nothing new is open by accident.
"""

from __future__ import annotations

ADMIN = "admin"
SCOPES = frozenset({"recommend", "events:read", "events:write", "items:write", ADMIN})
REQUIRED_SCOPE: dict[str, str] = {
    "/kairos.v1.Ranker/Recommend": "recommend",
    "/kairos.v1.Ranker/SimilarItems": "recommend",
    "/kairos.v1.Ranker/UpsertItems": "items:write",
    "/kairos.v1.Ranker/DeleteItems": "items:write",
    "/kairos.v1.UserState/AppendEvents": "events:write",
    "/kairos.v1.UserState/GetSequence": "events:read",
    "/kairos.v1.UserState/GetSequences": "events:read",
    "/kairos.v1.UserState/DeleteUser": ADMIN,
}
ANY_TOKEN_PREFIXES = ("/grpc.reflection.",)


def required_scope(method: str) -> str | None:
    """The scope ``method`` (``/package.Service/Method``) needs; None when any valid token may call it."""
    if method in REQUIRED_SCOPE:
        return REQUIRED_SCOPE[method]
    if method.startswith(ANY_TOKEN_PREFIXES):
        return None
    return ADMIN


def allows(scopes: frozenset[str], method: str) -> bool:
    """True when a token with ``scopes`` may call ``method``."""
    needed = required_scope(method)
    return needed is None or needed in scopes or ADMIN in scopes
