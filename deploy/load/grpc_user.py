"""A reusable locust User for gRPC: one kairos client per target per user, each call reported to locust's stats."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
import grpc.experimental.gevent as grpc_gevent
from google.protobuf.message import Message
from locust import User

from kairos.client import ChannelSettings, KairosError, SyncRankerClient, SyncUserStateClient

# gRPC's C core must cooperate with gevent, which locust runs on; before any channel exists.
grpc_gevent.init_gevent()


class _Result(Protocol):
    @property
    def raw(self) -> Message | None: ...


ResultT = TypeVar("ResultT", bound=_Result)


class GrpcCallError(Exception):
    """A failed gRPC call as locust records it: the status code name and details."""

    def __init__(self, code: grpc.StatusCode, details: str | None) -> None:
        super().__init__(f"{code.name}: {details or ''}".rstrip(": "))
        self.code = code


class GrpcUser(User):
    """Base class of gRPC users: `self.call(...)` times a unary call of a kairos client and fires locust's
    request event.

    Subclasses set `metadata` (e.g. a bearer token) and `tls_ca_file` (TLS) if needed. Calls are not retried
    (one attempt each), so every failure the target answers is counted.
    """

    abstract = True
    metadata: tuple[tuple[str, str], ...] = ()
    tls_ca_file: Path | None = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._clients: list[SyncRankerClient | SyncUserStateClient] = []

    def channel_settings(self, address: str) -> ChannelSettings:
        """How this user reaches `address`: TLS when `tls_ca_file` is set, one attempt per call."""
        return ChannelSettings(
            address=address, tls=self.tls_ca_file is not None, tls_ca_file=self.tls_ca_file, max_attempts=1
        )

    def ranker_client(self, address: str) -> SyncRankerClient:
        """A Ranker client of this user (closed on stop)."""
        client = SyncRankerClient(self.channel_settings(address), metadata=self.metadata)
        self._clients.append(client)
        return client

    def user_state_client(self, address: str) -> SyncUserStateClient:
        """A UserState client of this user (closed on stop)."""
        client = SyncUserStateClient(self.channel_settings(address), metadata=self.metadata)
        self._clients.append(client)
        return client

    def call(self, name: str, send: Callable[..., ResultT], request: Message, timeout: float) -> ResultT | None:
        """Send `request` with a client's `send`; record latency, size and outcome under `name`. None on failure."""
        start = time.perf_counter()
        response: ResultT | None = None
        exception: Exception | None = None
        try:
            response = send(request, timeout_s=timeout)
        except KairosError as error:
            exception = GrpcCallError(error.code, error.message)
        raw = response.raw if response is not None else None
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - start) * 1000.0,
            response_length=raw.ByteSize() if raw is not None else 0,
            response=response,
            context={},
            exception=exception,
        )
        return response

    def on_stop(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
