"""Client channels: TLS/mTLS, bearer token, retries on UNAVAILABLE, keepalive and message limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import grpc
from pydantic import BaseModel, Field


class ChannelSettings(BaseModel):
    """How a service reaches another one (e.g. the ranker reaching user-state)."""

    address: str = Field(description="host:port of the target service.")
    tls: bool = Field(False, description="Use TLS (trusting tls_ca_file, or the system roots).")
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = Field(None, description="Client certificate for mTLS.")
    tls_key_file: Path | None = None
    auth_token_file: Path | None = Field(None, description="File whose first line is the bearer token to send.")
    max_attempts: int = Field(3, ge=1, le=5, description="Attempts per call on UNAVAILABLE (gRPC retry policy).")
    max_message_bytes: int = 16 * 1024 * 1024
    lb_policy: Literal["pick_first", "round_robin"] | None = Field(
        None,
        description="Balancing over every address the target resolves to (e.g. round_robin over dns:/// of a "
        "headless Service); None: gRPC's default, pick_first.",
    )


def retry_service_config(max_attempts: int) -> str:
    """gRPC service config retrying every method on UNAVAILABLE with exponential backoff."""
    policy: dict[str, Any] = {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": "0.02s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
    return json.dumps(policy)


class _BearerToken(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()), self._header)
        details = client_call_details._replace(metadata=metadata)
        return await continuation(details, request)


def channel_options(settings: ChannelSettings) -> list[tuple[str, object]]:
    """The gRPC channel options `settings` ask for (message limits, keepalive, balancing, retries), asyncio or not."""
    options: list[tuple[str, object]] = [
        ("grpc.enable_retries", 1 if settings.max_attempts > 1 else 0),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
    ]
    if settings.lb_policy is not None:
        options.append(("grpc.lb_policy_name", settings.lb_policy))
    if settings.max_attempts > 1:  # gRPC rejects a retry policy with fewer than 2 attempts
        options.append(("grpc.service_config", retry_service_config(settings.max_attempts)))
    return options


def read_token(path: Path) -> str:
    """The bearer token in the first line of ``path``."""
    return path.read_text().splitlines()[0].strip()


def create_channel(settings: ChannelSettings) -> grpc.aio.Channel:
    """An asyncio channel to `settings.address` configured for production use."""
    options = channel_options(settings)
    interceptors = []
    if settings.auth_token_file is not None:
        interceptors.append(_BearerToken(read_token(settings.auth_token_file)))
    if settings.tls:
        from kairos.service.tls import channel_credentials

        creds = channel_credentials(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)
        return grpc.aio.secure_channel(settings.address, creds, options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(settings.address, options=options, interceptors=interceptors)
