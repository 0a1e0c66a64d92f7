"""What callers send: events, items and item filters as small dataclasses (protobuf messages are accepted too)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kairos.v1 import events_pb2, ranker_pb2

AttributeValues = str | Sequence[str]


@dataclass(frozen=True, slots=True)
class Event:
    """One interaction of a user with an item; `timestamp_ms` is ms since the Unix epoch (UTC)."""

    event_id: str
    user_id: str
    item_id: str
    timestamp_ms: int
    domain: str = ""
    event_type: str = ""

    def to_proto(self) -> events_pb2.Event:
        return events_pb2.Event(
            event_id=self.event_id, user_id=self.user_id, item_id=self.item_id, timestamp_ms=self.timestamp_ms,
            domain=self.domain, event_type=self.event_type,
        )  # fmt: skip

    @classmethod
    def from_proto(cls, message: events_pb2.Event) -> Event:
        return cls(
            message.event_id, message.user_id, message.item_id, message.timestamp_ms, message.domain,
            message.event_type,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Item:
    """An item described by its content (at least one of text, text_fields or image) and business attributes."""

    item_id: str
    text: str = ""
    text_fields: Mapping[str, str] = field(default_factory=dict)
    image: bytes = b""
    domain: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    published_ms: int = 0  # 0 = the moment of the upsert

    def to_proto(self) -> ranker_pb2.Item:
        return ranker_pb2.Item(
            item_id=self.item_id, text=self.text, text_fields=dict(self.text_fields), image=self.image,
            domain=self.domain, attributes=dict(self.attributes), published_ms=self.published_ms,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Attribute and freshness rules applied inside the index search.

    ``include={"region": "eu", "format": ["film", "series"]}``: every key must hold one of its values;
    ``exclude={"rating": "R"}``: an item holding any of them is left out; ``published_after_ms``: only items
    published at or after this time (0 = no freshness rule).
    """

    include: Mapping[str, AttributeValues] = field(default_factory=dict)
    exclude: Mapping[str, AttributeValues] = field(default_factory=dict)
    published_after_ms: int = 0

    def to_proto(self) -> ranker_pb2.ItemFilter:
        return ranker_pb2.ItemFilter(
            include=_conditions(self.include),
            exclude=_conditions(self.exclude),
            published_after_ms=self.published_after_ms,
        )


def _conditions(rules: Mapping[str, AttributeValues]) -> list[ranker_pb2.AttributeCondition]:
    return [
        ranker_pb2.AttributeCondition(key=key, values=[values] if isinstance(values, str) else list(values))
        for key, values in rules.items()
    ]


EventLike = Event | events_pb2.Event
ItemLike = Item | ranker_pb2.Item
FilterLike = ItemFilter | ranker_pb2.ItemFilter


def event_proto(event: EventLike) -> events_pb2.Event:
    return event if isinstance(event, events_pb2.Event) else event.to_proto()


def events_proto(events: Iterable[EventLike]) -> list[events_pb2.Event]:
    return [event_proto(e) for e in events]


def item_proto(item: ItemLike) -> ranker_pb2.Item:
    return item if isinstance(item, ranker_pb2.Item) else item.to_proto()


def filter_proto(item_filter: FilterLike | None) -> ranker_pb2.ItemFilter | None:
    if item_filter is None or isinstance(item_filter, ranker_pb2.ItemFilter):
        return item_filter
    return item_filter.to_proto()
