"""Async client of the user-state service (what the ranker uses)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc

from kairos.service.channel import ChannelSettings, create_channel
from kairos.v1 import user_state_pb2, user_state_pb2_grpc
from user_state.events import Event, from_proto, to_proto


class UserStateClient:
    """Thin typed wrapper over the UserState stub; errors surface as grpc.aio.AioRpcError."""

    def __init__(self, settings: ChannelSettings | str, default_timeout_s: float = 1.0) -> None:
        self.settings = ChannelSettings(address=settings) if isinstance(settings, str) else settings
        self.default_timeout_s = default_timeout_s
        self.channel: grpc.aio.Channel = create_channel(self.settings)
        self.stub = user_state_pb2_grpc.UserStateStub(self.channel)

    async def __aenter__(self) -> UserStateClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel."""
        await self.channel.close()

    def _timeout(self, timeout_s: float | None) -> float:
        return self.default_timeout_s if timeout_s is None else timeout_s

    async def append_events(self, events: Iterable[Event], timeout_s: float | None = None) -> tuple[int, int]:
        """Append a batch; returns (appended, duplicates)."""
        request = user_state_pb2.AppendEventsRequest(events=[to_proto(e) for e in events])
        reply = await self.stub.AppendEvents(request, timeout=self._timeout(timeout_s))
        return reply.appended, reply.duplicates

    @staticmethod
    def _filter(limit: int, since_ms: int, until_ms: int, domain: str) -> user_state_pb2.SequenceFilter:
        return user_state_pb2.SequenceFilter(limit=limit, since_ms=since_ms, until_ms=until_ms, domain=domain)

    async def get_sequence(
        self,
        user_id: str,
        limit: int = 0,
        since_ms: int = 0,
        until_ms: int = 0,
        domain: str = "",
        timeout_s: float | None = None,
    ) -> list[Event]:
        """One user's events, oldest first (empty when unknown)."""
        request = user_state_pb2.GetSequenceRequest(
            user_id=user_id, filter=self._filter(limit, since_ms, until_ms, domain)
        )
        reply = await self.stub.GetSequence(request, timeout=self._timeout(timeout_s))
        return [from_proto(e) for e in reply.sequence.events]

    async def get_sequences(
        self,
        user_ids: Sequence[str],
        limit: int = 0,
        since_ms: int = 0,
        until_ms: int = 0,
        domain: str = "",
        timeout_s: float | None = None,
    ) -> list[list[Event]]:
        """Each user's events, oldest first, in the order of `user_ids`."""
        request = user_state_pb2.GetSequencesRequest(
            user_ids=list(user_ids), filter=self._filter(limit, since_ms, until_ms, domain)
        )
        reply = await self.stub.GetSequences(request, timeout=self._timeout(timeout_s))
        return [[from_proto(e) for e in seq.events] for seq in reply.sequences]

    async def delete_user(self, user_id: str, timeout_s: float | None = None) -> int:
        """Delete a user; returns how many events were removed."""
        reply = await self.stub.DeleteUser(
            user_state_pb2.DeleteUserRequest(user_id=user_id), timeout=self._timeout(timeout_s)
        )
        return reply.deleted_events
