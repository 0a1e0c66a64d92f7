"""What the services answer, as typed frozen dataclasses; `raw` keeps the protobuf reply for anything else."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from kairos.client.inputs import Event
from kairos.v1 import events_pb2, ranker_pb2, user_state_pb2


class Degradation(enum.Enum):
    """Why an answer is not the full-quality one (kairos.v1.Degradation without its prefix)."""

    USER_STATE_UNAVAILABLE = ranker_pb2.DEGRADATION_USER_STATE_UNAVAILABLE
    POPULARITY_FALLBACK = ranker_pb2.DEGRADATION_POPULARITY_FALLBACK
    UNKNOWN_HISTORY_ITEMS = ranker_pb2.DEGRADATION_UNKNOWN_HISTORY_ITEMS
    UNSPECIFIED = ranker_pb2.DEGRADATION_UNSPECIFIED  # also stands for values newer than this client

    @classmethod
    def from_proto(cls, value: int) -> Degradation:
        try:
            return cls(value)
        except ValueError:
            return cls.UNSPECIFIED


def _degradations(values: Iterable[int]) -> frozenset[Degradation]:
    return frozenset(Degradation.from_proto(v) for v in values)


@dataclass(frozen=True, slots=True)
class ScoredItem:
    item_id: str
    score: float  # higher is better; comparable only within one answer


def _items(reply: ranker_pb2.RecommendResponse | ranker_pb2.SimilarItemsResponse) -> tuple[ScoredItem, ...]:
    return tuple(ScoredItem(i.item_id, i.score) for i in reply.items)


class _RankedAnswer:
    """What Recommendation and SimilarItems share: scored items, best first, and the degradation flags."""

    __slots__ = ()
    items: tuple[ScoredItem, ...]
    degradations: frozenset[Degradation]

    @property
    def degraded(self) -> bool:
        """True when the answer is not the full-quality one (see `degradations`)."""
        return bool(self.degradations)

    @property
    def item_ids(self) -> list[str]:
        return [i.item_id for i in self.items]


@dataclass(frozen=True, slots=True)
class Recommendation(_RankedAnswer):
    """Top-k items for one user, best first, and how the answer was made."""

    items: tuple[ScoredItem, ...]
    model_version: str
    degradations: frozenset[Degradation]
    history_length: int
    request_time_ms: int
    unknown_candidate_ids: tuple[str, ...]
    raw: ranker_pb2.RecommendResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_proto(cls, reply: ranker_pb2.RecommendResponse) -> Recommendation:
        return cls(
            _items(reply), reply.model_version, _degradations(reply.degradations), reply.history_length,
            reply.request_time_ms, tuple(reply.unknown_candidate_ids), reply,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SimilarItems(_RankedAnswer):
    """Items most like the query item, most similar first."""

    items: tuple[ScoredItem, ...]
    model_version: str
    degradations: frozenset[Degradation]
    unknown_candidate_ids: tuple[str, ...]
    raw: ranker_pb2.SimilarItemsResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_proto(cls, reply: ranker_pb2.SimilarItemsResponse) -> SimilarItems:
        return cls(
            _items(reply), reply.model_version, _degradations(reply.degradations), tuple(reply.unknown_candidate_ids),
            reply,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ItemResult:
    item_id: str
    ok: bool
    error: str  # names the field (e.g. "items[2].image: not a JPEG or PNG"); empty when ok


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """One result per item sent, in order; a rejected item does not fail the others."""

    results: tuple[ItemResult, ...]
    upserted: int
    raw: ranker_pb2.UpsertItemsResponse | None = field(default=None, repr=False, compare=False)

    @property
    def failed(self) -> tuple[ItemResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @classmethod
    def from_proto(cls, reply: ranker_pb2.UpsertItemsResponse) -> UpsertResult:
        results = tuple(ItemResult(r.item_id, r.ok, r.error) for r in reply.results)
        return cls(results, reply.upserted, reply)


@dataclass(frozen=True, slots=True)
class DeleteResult:
    deleted: int
    not_found: tuple[str, ...]
    raw: ranker_pb2.DeleteItemsResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_proto(cls, reply: ranker_pb2.DeleteItemsResponse) -> DeleteResult:
        return cls(reply.deleted, tuple(reply.not_found), reply)


@dataclass(frozen=True, slots=True)
class AppendResult:
    appended: int  # newly stored
    duplicates: int  # already stored (a retried event_id)
    raw: user_state_pb2.AppendEventsResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_proto(cls, reply: user_state_pb2.AppendEventsResponse) -> AppendResult:
        return cls(reply.appended, reply.duplicates, reply)


@dataclass(frozen=True)
class UserSequence:
    """One user's events, oldest first (empty for an unknown user). `events` are converted on first read, so
    reading many users' sequences costs little until they are looked at."""

    user_id: str
    raw: events_pb2.Sequence = field(repr=False)

    @cached_property
    def events(self) -> tuple[Event, ...]:
        return tuple(Event.from_proto(e) for e in self.raw.events)

    @property
    def item_ids(self) -> list[str]:
        return [e.item_id for e in self.raw.events]

    def __len__(self) -> int:
        return len(self.raw.events)

    @classmethod
    def from_proto(cls, message: events_pb2.Sequence) -> UserSequence:
        return cls(message.user_id, message)
