"""The domain event and its conversions to and from the kairos.v1 protobuf messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from kairos.v1 import events_pb2


@dataclass(slots=True, eq=False)
class Event:
    """One interaction, as stored. `timestamp_ms` is milliseconds since the Unix epoch (UTC)."""

    event_id: str
    user_id: str
    item_id: str
    timestamp_ms: int
    domain: str = ""
    event_type: str = ""
    _wire: bytes | None = field(default=None, repr=False)

    def key(self) -> tuple[str, str, str, int, str, str]:
        """Every field, for comparisons in tests and logs."""
        return (self.event_id, self.user_id, self.item_id, self.timestamp_ms, self.domain, self.event_type)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    @property
    def wire(self) -> bytes:
        """The serialized kairos.v1.Event message (computed once, then cached on the object)."""
        if self._wire is None:
            self._wire = to_proto(self).SerializeToString()
        return self._wire


@dataclass(slots=True, frozen=True)
class UserDeletion:
    """A DeleteUser the store applied: the event log records it so that training drops the user's earlier events."""

    user_id: str
    deleted_ms: int  # wall clock of the deletion, ms since the Unix epoch


def from_proto(message: events_pb2.Event) -> Event:
    """Domain event from a protobuf Event (no validation; see user_state.validation)."""
    return Event(
        message.event_id, message.user_id, message.item_id, message.timestamp_ms, message.domain, message.event_type
    )


def to_proto(event: Event) -> events_pb2.Event:
    """Protobuf Event from a domain event."""
    return events_pb2.Event(
        event_id=event.event_id,
        user_id=event.user_id,
        item_id=event.item_id,
        timestamp_ms=event.timestamp_ms,
        domain=event.domain,
        event_type=event.event_type,
    )


def from_wire(wire: bytes) -> Event:
    """Domain event from a serialized protobuf Event, keeping the bytes for re-sending."""
    event = from_proto(events_pb2.Event.FromString(wire))
    event._wire = wire
    return event
