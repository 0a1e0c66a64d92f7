"""Async client of the user-state service (what the ranker uses)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc

from kairos.service.channel import ChannelSettings, create_channel
from kairos.v1 import user_state_pb2, user_state_pb2_grpc
from user_state.events import Event, from_proto, to_proto
from user_state.sequence_cache import DecodedSequences

GET_SEQUENCES = "/kairos.v1.UserState/GetSequences"


class UserStateClient:
    """Thin typed wrapper over the UserState stub; errors surface as grpc.aio.AioRpcError."""

    def __init__(
        self, settings: ChannelSettings | str, default_timeout_s: float = 1.0, sequence_cache_size: int = 0
    ) -> None:
        """``sequence_cache_size`` > 0: GetSequences replies are read as bytes and each user's decoded events are
        reused while that user's bytes stay the same (``user_state.sequence_cache``); the lists returned are then
        shared between calls and must not be modified."""
        self.settings = ChannelSettings(address=settings) if isinstance(settings, str) else settings
        self.default_timeout_s = default_timeout_s
        self.channel: grpc.aio.Channel = create_channel(self.settings)
        self.stub = user_state_pb2_grpc.UserStateStub(self.channel)
        self.sequences = DecodedSequences(sequence_cache_size)
        self._get_sequences_raw = self.channel.unary_unary(
            GET_SEQUENCES,
            request_serializer=user_state_pb2.GetSequencesRequest.SerializeToString,
            response_deserializer=None,  # the reply's bytes, split and decoded by self.sequences
        )

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
        reply: bytes = await self._get_sequences_raw(request, timeout=self._timeout(timeout_s))
        return self.sequences.decode(reply)

    async def delete_user(self, user_id: str, timeout_s: float | None = None) -> int:
        """Delete a user; returns how many events were removed."""
        reply = await self.stub.DeleteUser(
            user_state_pb2.DeleteUserRequest(user_id=user_id), timeout=self._timeout(timeout_s)
        )
        return reply.deleted_events
