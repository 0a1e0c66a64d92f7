"""The interface every event store implements, and the read filter they share."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from user_state import wire
from user_state.events import Event


@dataclass(frozen=True, slots=True)
class SequenceFilter:
    """Which of a user's events to return. Zero means "no bound" for every field."""

    limit: int = 0  # newest N matching events; 0 = the per-user cap
    since_ms: int = 0  # timestamp_ms >= since_ms
    until_ms: int = 0  # timestamp_ms < until_ms
    domain: str = ""  # only this domain

    @property
    def is_plain(self) -> bool:
        """True when only `limit` may be set (the common, fastest path)."""
        return not (self.since_ms or self.until_ms or self.domain)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Outcome of one append: events newly accepted, and retries skipped because their id was stored."""

    appended: int
    duplicates: int


class EventStore(abc.ABC):
    """Per-user sequences ordered by (timestamp_ms, arrival); idempotent on (user_id, event_id).

    Semantics shared by every implementation (one contract test suite runs against all of them):
      * a user keeps at most `max_events_per_user` events; appending beyond drops the oldest;
      * an event whose (user_id, event_id) is among the user's retained events is a duplicate and changes
        nothing; an event older than everything a full user retains is accepted and immediately dropped;
      * with a TTL, a user's events are forgotten `ttl_s` after that user's last append.
    """

    @abc.abstractmethod
    async def start(self) -> None:
        """Open connections / files. Called once before any other method."""

    @abc.abstractmethod
    async def append(self, events: Sequence[Event]) -> AppendResult:
        """Store already-validated events (any mix of users); returns when they are durable per the store."""

    @abc.abstractmethod
    async def get_sequences(self, user_ids: Sequence[str], flt: SequenceFilter) -> list[list[Event]]:
        """For each user id (in order, repeats allowed): its matching events, oldest first."""

    async def get_encoded_sequences(self, user_ids: Sequence[str], flt: SequenceFilter) -> list[bytes]:
        """As get_sequences, each result a serialized kairos.v1.Sequence (stores may serve cached bytes)."""
        sequences = await self.get_sequences(user_ids, flt)
        return [wire.sequence(user_id, events) for user_id, events in zip(user_ids, sequences, strict=True)]

    @abc.abstractmethod
    async def delete_user(self, user_id: str) -> int:
        """Remove every event of `user_id`; return how many there were."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush and release resources. Idempotent."""

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Raise kairos.service.errors.Unavailable when the backing store cannot be reached."""
