"""Request validation. Every error names the offending field; a batch with one bad event is rejected whole."""

from __future__ import annotations

import time
from collections.abc import Sequence

from kairos.service.errors import InvalidArgument
from kairos.v1 import events_pb2, user_state_pb2
from user_state.events import Event
from user_state.settings import UserStateSettings
from user_state.store.base import SequenceFilter


class Validator:
    """Checks requests against the limits in UserStateSettings."""

    def __init__(self, settings: UserStateSettings) -> None:
        self.max_batch = settings.max_batch
        self.max_users = settings.max_users_per_call
        self.max_id_bytes = settings.max_id_bytes
        self.max_label_bytes = settings.max_label_bytes
        self.min_timestamp_ms = settings.min_timestamp_ms
        self.max_future_ms = settings.max_future_ms
        self.max_events_per_user = settings.max_events_per_user

    def _text(self, field: str, value: str, max_bytes: int, required: bool) -> None:
        if not value:
            if required:
                raise InvalidArgument(field, "must not be empty")
            return
        # A str of n characters takes at most 4n UTF-8 bytes: encode only when that could exceed the limit.
        if len(value) * 4 > max_bytes and len(value.encode()) > max_bytes:
            raise InvalidArgument(field, f"is {len(value.encode())} bytes, longer than the limit of {max_bytes}")

    def user_id(self, field: str, value: str) -> None:
        """An id naming a user: 1..max_id_bytes UTF-8 bytes."""
        self._text(field, value, self.max_id_bytes, required=True)

    def timestamp(self, field: str, value: int, now_ms: int) -> None:
        """Milliseconds since the epoch, not before min_timestamp_ms nor too far past the server clock."""
        if value <= 0:
            raise InvalidArgument(field, f"must be > 0 milliseconds since the Unix epoch, got {value}")
        if value < self.min_timestamp_ms:
            hint = " (it looks like seconds; send milliseconds)" if value * 1000 >= self.min_timestamp_ms else ""
            raise InvalidArgument(
                field, f"{value} is before {self.min_timestamp_ms}; timestamps are milliseconds since the epoch{hint}"
            )
        if value > now_ms + self.max_future_ms:
            raise InvalidArgument(
                field,
                f"{value} is more than {self.max_future_ms} ms after the server clock ({now_ms}); "
                "timestamps are milliseconds since the epoch",
            )

    def events(self, messages: Sequence[events_pb2.Event]) -> list[Event]:
        """Validate an AppendEvents batch and convert it; raises InvalidArgument on the first bad field."""
        n = len(messages)
        if n == 0:
            raise InvalidArgument("events", "must hold at least one event")
        if n > self.max_batch:
            raise InvalidArgument("events", f"{n} events exceed max_batch={self.max_batch}")
        now_ms = int(time.time() * 1000)
        lo_ts, hi_ts = self.min_timestamp_ms, now_ms + self.max_future_ms
        # Cheap checks first; the field name is only formatted for an event that fails one.
        id_chars, label_chars = self.max_id_bytes // 4, self.max_label_bytes // 4
        out: list[Event] = []
        for i, m in enumerate(messages):
            event_id, user_id, item_id, ts, domain, event_type = (
                m.event_id, m.user_id, m.item_id, m.timestamp_ms, m.domain, m.event_type
            )  # fmt: skip
            if not (
                0 < len(event_id) <= id_chars
                and 0 < len(user_id) <= id_chars
                and 0 < len(item_id) <= id_chars
                and len(domain) <= label_chars
                and len(event_type) <= label_chars
                and lo_ts <= ts <= hi_ts
            ):
                self._event(i, m, now_ms)
            out.append(Event(event_id, user_id, item_id, ts, domain, event_type))
        return out

    def _event(self, i: int, m: events_pb2.Event, now_ms: int) -> None:
        """The full check of one event, naming the first bad field (the slow path of `events`)."""
        for name in ("event_id", "user_id", "item_id"):
            self._text(f"events[{i}].{name}", getattr(m, name), self.max_id_bytes, required=True)
        self.timestamp(f"events[{i}].timestamp_ms", m.timestamp_ms, now_ms)
        for name in ("domain", "event_type"):
            self._text(f"events[{i}].{name}", getattr(m, name), self.max_label_bytes, required=False)

    def user_ids(self, user_ids: Sequence[str]) -> list[str]:
        """Validate GetSequences' user ids (1..max_users_per_call, each a valid id)."""
        n = len(user_ids)
        if n == 0:
            raise InvalidArgument("user_ids", "must hold at least one user id")
        if n > self.max_users:
            raise InvalidArgument("user_ids", f"{n} user ids exceed max_users_per_call={self.max_users}")
        ids = list(user_ids)
        for i, user_id in enumerate(ids):
            self.user_id(f"user_ids[{i}]", user_id)
        return ids

    def filter(self, message: user_state_pb2.SequenceFilter) -> SequenceFilter:
        """Validate a SequenceFilter (absent = no filtering)."""
        if message.limit < 0:
            raise InvalidArgument("filter.limit", f"must be >= 0, got {message.limit}")
        if message.since_ms < 0:
            raise InvalidArgument("filter.since_ms", f"must be >= 0 milliseconds, got {message.since_ms}")
        if message.until_ms < 0:
            raise InvalidArgument("filter.until_ms", f"must be >= 0 milliseconds, got {message.until_ms}")
        if message.until_ms and message.since_ms >= message.until_ms:
            raise InvalidArgument(
                "filter.until_ms", f"must be greater than since_ms ({message.since_ms}), got {message.until_ms}"
            )
        self._text("filter.domain", message.domain, self.max_label_bytes, False)
        limit = min(message.limit, self.max_events_per_user) if message.limit else self.max_events_per_user
        return SequenceFilter(limit, message.since_ms, message.until_ms, message.domain)
