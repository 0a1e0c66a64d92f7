"""Recommend / UpsertItems / DeleteItems request validation. Every error names the offending field."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from kairos.service.errors import InvalidArgument
from kairos.v1 import ranker_pb2
from ranker.index import ItemFilterSpec
from ranker.service.settings import RankerSettings
from user_state.events import Event

# 1990-01-01T00:00:00Z: anything earlier is almost surely seconds sent as milliseconds.
MIN_TIMESTAMP_MS = 631_152_000_000


@dataclass
class RecommendQuery:
    """A validated Recommend request."""

    user_id: str
    k: int
    request_time_ms: int
    candidate_ids: list[str] | None
    exclude_seen: bool
    target_domain: str
    recent_events: list[Event] = field(default_factory=list)
    exclude_ids: frozenset[str] = frozenset()
    filter: ItemFilterSpec | None = None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RequestValidator:
    """Checks requests against the limits in RankerSettings."""

    def __init__(self, settings: RankerSettings) -> None:
        self.s = settings

    def identifier(self, field_name: str, value: str) -> None:
        if not value:
            raise InvalidArgument(field_name, "must not be empty")
        if len(value) * 4 > self.s.max_id_bytes and len(value.encode()) > self.s.max_id_bytes:
            raise InvalidArgument(field_name, f"is longer than {self.s.max_id_bytes} UTF-8 bytes")

    def ids(self, field_name: str, values: Sequence[str]) -> None:
        """A list of item ids: at most ``max_candidates``, each a valid identifier (errors name the index)."""
        if len(values) > self.s.max_candidates:
            raise InvalidArgument(field_name, f"{len(values)} ids exceed the limit of {self.s.max_candidates}")
        for i, value in enumerate(values):
            self.identifier(f"{field_name}[{i}]", value)

    def _text(self, field_name: str, value: str) -> None:
        """A non-empty attribute key or value within ``max_attribute_bytes``."""
        if not value:
            raise InvalidArgument(field_name, "must not be empty")
        if len(value) * 4 > self.s.max_attribute_bytes and len(value.encode()) > self.s.max_attribute_bytes:
            raise InvalidArgument(field_name, f"is longer than {self.s.max_attribute_bytes} UTF-8 bytes")

    def item_filter(self, field_name: str, f: ranker_pb2.ItemFilter) -> ItemFilterSpec | None:
        """A validated filter (None when it lets every item through); errors name e.g. ``filter.include[1].key``."""
        conditions = len(f.include) + len(f.exclude)
        if conditions > self.s.max_filter_conditions:
            raise InvalidArgument(
                field_name, f"{conditions} conditions exceed the limit of {self.s.max_filter_conditions}"
            )
        if f.published_after_ms < 0:
            raise InvalidArgument(f"{field_name}.published_after_ms", f"must be >= 0, got {f.published_after_ms}")
        parts: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {}
        for part in ("include", "exclude"):
            checked = []
            for i, c in enumerate(getattr(f, part)):
                prefix = f"{field_name}.{part}[{i}]"
                self._text(f"{prefix}.key", c.key)
                if not c.values:
                    raise InvalidArgument(f"{prefix}.values", "must hold at least one value")
                if len(c.values) > self.s.max_filter_values:
                    raise InvalidArgument(
                        f"{prefix}.values", f"{len(c.values)} values exceed the limit of {self.s.max_filter_values}"
                    )
                for j, value in enumerate(c.values):
                    self._text(f"{prefix}.values[{j}]", value)
                checked.append((c.key, frozenset(c.values)))
            parts[part] = tuple(checked)
        spec = ItemFilterSpec(parts["include"], parts["exclude"], f.published_after_ms)
        return None if spec.empty else spec

    def attributes(self, prefix: str, item: ranker_pb2.Item) -> str | None:
        """Why an item's attributes or publication time are not acceptable (naming the field), or None."""
        if len(item.attributes) > self.s.max_attributes:
            return f"{prefix}.attributes: {len(item.attributes)} attributes exceed the limit of {self.s.max_attributes}"
        try:
            for key in sorted(item.attributes):
                self._text(f"{prefix}.attributes key", key)
                self._text(f"{prefix}.attributes[{key!r}]", item.attributes[key])
        except InvalidArgument as exc:
            return str(exc)
        if item.published_ms < 0:
            return f"{prefix}.published_ms: must be >= 0, got {item.published_ms}"
        return None

    def timestamp(self, field_name: str, value: int, now: int) -> None:
        if value <= 0:
            raise InvalidArgument(field_name, f"must be > 0 milliseconds since the Unix epoch, got {value}")
        if value < MIN_TIMESTAMP_MS:
            raise InvalidArgument(field_name, f"{value} is before 1990; timestamps are milliseconds since the epoch")
        if value > now + self.s.max_future_ms:
            raise InvalidArgument(field_name, f"{value} is more than {self.s.max_future_ms} ms after the server clock")

    def recommend(self, request: ranker_pb2.RecommendRequest, domains: frozenset[str] | None) -> RecommendQuery:
        """Validate a Recommend request; ``domains`` are the target domains the model knows (None: any)."""
        now = now_ms()
        self.identifier("user_id", request.user_id)
        if not 1 <= request.k <= self.s.max_k:
            raise InvalidArgument("k", f"must be in 1..{self.s.max_k}, got {request.k}")
        request_time = request.request_time_ms or now
        self.timestamp("request_time_ms", request_time, now)
        self.ids("candidate_ids", request.candidate_ids)
        self.ids("exclude_ids", request.exclude_ids)
        if request.target_domain and domains is not None and request.target_domain not in domains:
            raise InvalidArgument(
                "target_domain", f"unknown domain {request.target_domain!r}; known: {sorted(domains)}"
            )
        if len(request.recent_events) > self.s.max_recent_events:
            raise InvalidArgument(
                "recent_events", f"{len(request.recent_events)} events exceed the limit of {self.s.max_recent_events}"
            )
        events = []
        for i, e in enumerate(request.recent_events):
            prefix = f"recent_events[{i}]"
            if e.user_id and e.user_id != request.user_id:
                raise InvalidArgument(f"{prefix}.user_id", f"{e.user_id!r} differs from the request's user_id")
            self.identifier(f"{prefix}.item_id", e.item_id)
            if e.event_id:
                self.identifier(f"{prefix}.event_id", e.event_id)
            self.timestamp(f"{prefix}.timestamp_ms", e.timestamp_ms, now)
            events.append(Event(e.event_id, request.user_id, e.item_id, e.timestamp_ms, e.domain, e.event_type))
        return RecommendQuery(
            user_id=request.user_id,
            k=request.k,
            request_time_ms=request_time,
            candidate_ids=list(request.candidate_ids) or None,
            exclude_seen=request.exclude_seen,
            target_domain=request.target_domain,
            recent_events=events,
            exclude_ids=frozenset(request.exclude_ids),
            filter=self.item_filter("filter", request.filter) if request.HasField("filter") else None,
        )

    def delete(self, request: ranker_pb2.DeleteItemsRequest) -> list[str]:
        if not request.item_ids:
            raise InvalidArgument("item_ids", "must hold at least one id")
        if len(request.item_ids) > self.s.max_delete_items:
            raise InvalidArgument(
                "item_ids", f"{len(request.item_ids)} ids exceed the limit of {self.s.max_delete_items}"
            )
        for i, item_id in enumerate(request.item_ids):
            self.identifier(f"item_ids[{i}]", item_id)
        return list(dict.fromkeys(request.item_ids))

    def upsert_batch(self, request: ranker_pb2.UpsertItemsRequest) -> None:
        """Whole-request checks (size, duplicate ids); per-item problems are reported per item instead."""
        n = len(request.items)
        if n == 0:
            raise InvalidArgument("items", "must hold at least one item")
        if n > self.s.max_upsert_items:
            raise InvalidArgument("items", f"{n} items exceed the limit of {self.s.max_upsert_items}")
        seen: dict[str, int] = {}
        for i, item in enumerate(request.items):
            if item.item_id in seen and item.item_id:
                raise InvalidArgument(f"items[{i}].item_id", f"{item.item_id!r} repeats items[{seen[item.item_id]}]")
            seen[item.item_id] = i

    def upsert_item(self, i: int, item: ranker_pb2.Item, text: str, prefix: str | None = None) -> str | None:
        """Why item ``i`` cannot be upserted (naming the field, ``items[i]`` unless ``prefix`` says otherwise), or
        None. ``text`` is its resolved text."""
        prefix = prefix or f"items[{i}]"
        try:
            self.identifier(f"{prefix}.item_id", item.item_id)
        except InvalidArgument as exc:
            return str(exc)
        if not text and not item.image:
            return f"{prefix}: needs at least one of text, text_fields or image"
        if len(text) > self.s.max_text_chars:
            return f"{prefix}.text: {len(text)} characters exceed the limit of {self.s.max_text_chars}"
        if len(item.image) > self.s.max_image_bytes:
            return f"{prefix}.image: {len(item.image)} bytes exceed the limit of {self.s.max_image_bytes}"
        return self.attributes(prefix, item)
