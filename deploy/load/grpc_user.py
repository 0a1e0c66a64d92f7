"""A reusable locust User for gRPC: one channel per target per user, each call reported to locust's stats."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import grpc.experimental.gevent as grpc_gevent
from google.protobuf.message import Message
from locust import User

# gRPC's C core must cooperate with gevent, which locust runs on; before any channel exists.
grpc_gevent.init_gevent()

ResponseT = TypeVar("ResponseT", bound=Message)


class GrpcCallError(Exception):
    """A failed gRPC call as locust records it: the status code name and details."""

    def __init__(self, code: grpc.StatusCode, details: str | None) -> None:
        super().__init__(f"{code.name}: {details or ''}".rstrip(": "))
        self.code = code


class GrpcUser(User):
    """Base class of gRPC users: `self.call(...)` times a unary call and fires locust's request event.

    Subclasses set `metadata` (e.g. a bearer token) and `root_certificates` (TLS) if needed.
    """

    abstract = True
    metadata: tuple[tuple[str, str], ...] = ()
    root_certificates: bytes | None = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._channels: dict[str, grpc.Channel] = {}

    def channel(self, address: str) -> grpc.Channel:
        """This user's channel to `address` (created on first use, closed on stop)."""
        if address not in self._channels:
            if self.root_certificates is not None:
                credentials = grpc.ssl_channel_credentials(root_certificates=self.root_certificates)
                self._channels[address] = grpc.secure_channel(address, credentials)
            else:
                self._channels[address] = grpc.insecure_channel(address)
        return self._channels[address]

    def call(self, name: str, method: Callable[..., ResponseT], request: Message, timeout: float) -> ResponseT | None:
        """Invoke a unary stub method; record latency, size and outcome under `name`. None on failure."""
        start = time.perf_counter()
        response: ResponseT | None = None
        exception: Exception | None = None
        try:
            response = method(request, timeout=timeout, metadata=self.metadata)
        except grpc.RpcError as error:
            exception = GrpcCallError(error.code(), error.details())
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - start) * 1000.0,
            response_length=response.ByteSize() if response is not None else 0,
            response=response,
            context={},
            exception=exception,
        )
        return response

    def on_stop(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
