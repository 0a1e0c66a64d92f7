"""What every client shares: channel, default deadline, call metadata and the mapping of failures to KairosError."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Self

import grpc
from google.protobuf.message import Message

from kairos.client.channels import async_channel, blocking_channel, call_metadata, channel_settings
from kairos.client.errors import from_rpc_error
from kairos.service.channel import ChannelSettings

DEFAULT_TIMEOUT_S = 5.0

Route = tuple[str, Callable[[Any], Any]]  # (stub method name, reply -> result)


class _Client:
    """Settings, metadata and the default deadline (seconds, per client; every call may override it)."""

    _routes: dict[type[Message], Route]

    def __init__(
        self,
        target: ChannelSettings | str,
        *,
        token: str | None,
        metadata: Sequence[tuple[str, str]],
        timeout_s: float,
        blocking: bool,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.settings = channel_settings(target)
        self.timeout_s = timeout_s
        self._metadata = call_metadata(self.settings, token, metadata, blocking) or None

    def _deadline(self, timeout_s: float | None) -> float:
        return self.timeout_s if timeout_s is None else timeout_s

    def _route(self, request: Message) -> Route:
        try:
            return self._routes[type(request)]
        except KeyError:
            raise TypeError(f"{type(self).__name__} cannot send a {type(request).__name__}") from None


class AsyncClient(_Client):
    """Base of the asyncio clients: `async with Client(...) as c`, or `await c.close()` when done."""

    def __init__(
        self,
        target: ChannelSettings | str,
        *,
        token: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(target, token=token, metadata=metadata, timeout_s=timeout_s, blocking=False)
        self.channel: grpc.aio.Channel = async_channel(self.settings)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel (calls in flight are cancelled)."""
        await self.channel.close()

    async def _send(self, stub: object, request: Message, timeout_s: float | None) -> Any:
        method, convert = self._route(request)
        try:
            reply = await getattr(stub, method)(request, timeout=self._deadline(timeout_s), metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc
        return convert(reply)


class BlockingClient(_Client):
    """Base of the blocking clients (threads, gevent): `with Client(...) as c`, or `c.close()` when done."""

    def __init__(
        self,
        target: ChannelSettings | str,
        *,
        token: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(target, token=token, metadata=metadata, timeout_s=timeout_s, blocking=True)
        self.channel: grpc.Channel = blocking_channel(self.settings)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def _send(self, stub: object, request: Message, timeout_s: float | None) -> Any:
        method, convert = self._route(request)
        try:
            reply = getattr(stub, method)(request, timeout=self._deadline(timeout_s), metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
        return convert(reply)
