"""Clients of kairos.v1.UserState: AppendEvents, GetSequence, GetSequences, DeleteUser."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, overload

from kairos.client import requests
from kairos.client.base import DEFAULT_TIMEOUT_S, AsyncClient, BlockingClient, Route
from kairos.client.inputs import EventLike
from kairos.client.results import AppendResult, UserSequence
from kairos.service.channel import ChannelSettings
from kairos.v1 import user_state_pb2, user_state_pb2_grpc

UserStateRequest = (
    user_state_pb2.AppendEventsRequest | user_state_pb2.GetSequenceRequest | user_state_pb2.GetSequencesRequest
    | user_state_pb2.DeleteUserRequest
)  # fmt: skip
UserStateResult = AppendResult | UserSequence | list[UserSequence] | int

_ROUTES: dict[Any, Route] = {
    user_state_pb2.AppendEventsRequest: ("AppendEvents", AppendResult.from_proto),
    user_state_pb2.GetSequenceRequest: ("GetSequence", lambda reply: UserSequence.from_proto(reply.sequence)),
    user_state_pb2.GetSequencesRequest: (
        "GetSequences",
        lambda reply: [UserSequence.from_proto(s) for s in reply.sequences],
    ),
    user_state_pb2.DeleteUserRequest: ("DeleteUser", lambda reply: reply.deleted_events),
}


class UserStateClient(AsyncClient):
    """asyncio client of UserState. Failures raise :class:`kairos.client.KairosError` subclasses.

    ``target``, ``token`` and ``timeout_s`` as for :class:`kairos.client.RankerClient`. The sequence methods
    filter by ``limit`` (newest n; 0 = the server's cap), ``since_ms`` <= timestamp < ``until_ms`` (0 = open)
    and ``domain`` (empty = every domain).
    """

    _routes = _ROUTES

    def __init__(
        self,
        target: ChannelSettings | str,
        *,
        token: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(target, token=token, metadata=metadata, timeout_s=timeout_s)
        self._stub = user_state_pb2_grpc.UserStateStub(self.channel)

    async def append_events(self, events: Iterable[EventLike], *, timeout_s: float | None = None) -> AppendResult:
        """Append a batch (all-or-nothing; idempotent on (user_id, event_id))."""
        return await self.send(requests.append_events(events), timeout_s=timeout_s)

    async def get_sequence(
        self, user_id: str, *, limit: int = 0, since_ms: int = 0, until_ms: int = 0, domain: str = "",
        timeout_s: float | None = None,
    ) -> UserSequence:  # fmt: skip
        """One user's most recent events, oldest first (none for an unknown user)."""
        request = requests.get_sequence(user_id, limit, since_ms, until_ms, domain)
        return await self.send(request, timeout_s=timeout_s)

    async def get_sequences(
        self, user_ids: Iterable[str], *, limit: int = 0, since_ms: int = 0, until_ms: int = 0, domain: str = "",
        timeout_s: float | None = None,
    ) -> list[UserSequence]:  # fmt: skip
        """Many users' most recent events in one call, in the order of `user_ids`."""
        request = requests.get_sequences(user_ids, limit, since_ms, until_ms, domain)
        return await self.send(request, timeout_s=timeout_s)

    async def delete_user(self, user_id: str, *, timeout_s: float | None = None) -> int:
        """Remove every stored event of `user_id`; returns how many were removed."""
        return await self.send(requests.delete_user(user_id), timeout_s=timeout_s)

    @overload
    async def send(
        self, request: user_state_pb2.AppendEventsRequest, *, timeout_s: float | None = None
    ) -> AppendResult: ...
    @overload
    async def send(
        self, request: user_state_pb2.GetSequenceRequest, *, timeout_s: float | None = None
    ) -> UserSequence: ...
    @overload
    async def send(
        self, request: user_state_pb2.GetSequencesRequest, *, timeout_s: float | None = None
    ) -> list[UserSequence]: ...
    @overload
    async def send(self, request: user_state_pb2.DeleteUserRequest, *, timeout_s: float | None = None) -> int: ...
    async def send(self, request: UserStateRequest, *, timeout_s: float | None = None) -> UserStateResult:
        """Send a prepared request message (the RPC follows from its type); returns the typed result."""
        return await self._send(self._stub, request, timeout_s)


class SyncUserStateClient(BlockingClient):
    """Blocking client of UserState (threads, gevent); the same methods as :class:`UserStateClient`."""

    _routes = _ROUTES

    def __init__(
        self,
        target: ChannelSettings | str,
        *,
        token: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(target, token=token, metadata=metadata, timeout_s=timeout_s)
        self._stub = user_state_pb2_grpc.UserStateStub(self.channel)

    def append_events(self, events: Iterable[EventLike], *, timeout_s: float | None = None) -> AppendResult:
        """Append a batch (all-or-nothing; idempotent on (user_id, event_id))."""
        return self.send(requests.append_events(events), timeout_s=timeout_s)

    def get_sequence(
        self, user_id: str, *, limit: int = 0, since_ms: int = 0, until_ms: int = 0, domain: str = "",
        timeout_s: float | None = None,
    ) -> UserSequence:  # fmt: skip
        """One user's most recent events, oldest first (none for an unknown user)."""
        return self.send(requests.get_sequence(user_id, limit, since_ms, until_ms, domain), timeout_s=timeout_s)

    def get_sequences(
        self, user_ids: Iterable[str], *, limit: int = 0, since_ms: int = 0, until_ms: int = 0, domain: str = "",
        timeout_s: float | None = None,
    ) -> list[UserSequence]:  # fmt: skip
        """Many users' most recent events in one call, in the order of `user_ids`."""
        return self.send(requests.get_sequences(user_ids, limit, since_ms, until_ms, domain), timeout_s=timeout_s)

    def delete_user(self, user_id: str, *, timeout_s: float | None = None) -> int:
        """Remove every stored event of `user_id`; returns how many were removed."""
        return self.send(requests.delete_user(user_id), timeout_s=timeout_s)

    @overload
    def send(self, request: user_state_pb2.AppendEventsRequest, *, timeout_s: float | None = None) -> AppendResult: ...
    @overload
    def send(self, request: user_state_pb2.GetSequenceRequest, *, timeout_s: float | None = None) -> UserSequence: ...
    @overload
    def send(
        self, request: user_state_pb2.GetSequencesRequest, *, timeout_s: float | None = None
    ) -> list[UserSequence]: ...
    @overload
    def send(self, request: user_state_pb2.DeleteUserRequest, *, timeout_s: float | None = None) -> int: ...
    def send(self, request: UserStateRequest, *, timeout_s: float | None = None) -> UserStateResult:
        """Send a prepared request message (the RPC follows from its type); returns the typed result."""
        return self._send(self._stub, request, timeout_s)
