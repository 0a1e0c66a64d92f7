"""What a served answer to hostile input may be: OK, or INVALID_ARGUMENT whose message starts with a field."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import grpc

# "events[3].timestamp_ms: ...", "filter.limit: ...", "items[0].text_fields.value: ...", "request: ..."
FIELD_MESSAGE = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*: \S")


def call_verdict(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, Any]:
    """Run a blocking gRPC call; return (code, details, reply or None)."""
    try:
        return grpc.StatusCode.OK, "", call()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or "", None


def assert_clear(code: grpc.StatusCode, details: str) -> None:
    """OK, or INVALID_ARGUMENT naming the offending field; never INTERNAL, UNKNOWN or anything else."""
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), f"{code}: {details}"
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert FIELD_MESSAGE.match(details), f"INVALID_ARGUMENT without a field name: {details!r}"
