"""Hand-assembled protobuf encodings of the read responses.

Sequences are sent thousands of times a second; each stored event keeps its serialized `Event` bytes, so a
response is built by concatenating length-delimited fields instead of constructing one message per event.
Field numbers follow protos/kairos/v1/events.proto and user_state.proto.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from user_state.events import Event

_TAG_SEQUENCE_USER_ID = b"\x0a"  # Sequence.user_id = 1, length-delimited
_TAG_SEQUENCE_EVENTS = b"\x12"  # Sequence.events = 2
_TAG_RESPONSE_SEQUENCES = b"\x0a"  # GetSequencesResponse.sequences = 1
_TAG_RESPONSE_SEQUENCE = b"\x0a"  # GetSequenceResponse.sequence = 1

_SMALL_VARINTS = [bytes([n]) for n in range(128)]


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    if value < 128:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def sequence_events(events: Iterable[Event]) -> bytes:
    """The `events` fields of a serialized kairos.v1.Sequence."""
    return b"".join([sequence_field(event.wire) for event in events])


def sequence_with_events(user_id: str, encoded_events: bytes) -> bytes:
    """Serialized kairos.v1.Sequence from its user id and the output of `sequence_events`."""
    return _field(_TAG_SEQUENCE_USER_ID, user_id.encode()) + encoded_events if user_id else encoded_events


def sequence(user_id: str, events: Iterable[Event]) -> bytes:
    """Serialized kairos.v1.Sequence."""
    return sequence_with_events(user_id, sequence_events(events))


def sequence_field(event_wire: bytes) -> bytes:
    """A serialized Event as one `Sequence.events` field."""
    return _TAG_SEQUENCE_EVENTS + varint(len(event_wire)) + event_wire


def get_sequences_response(encoded_sequences: Sequence[bytes]) -> bytes:
    """Serialized kairos.v1.GetSequencesResponse from serialized Sequences (in request order)."""
    return b"".join([_field(_TAG_RESPONSE_SEQUENCES, seq) for seq in encoded_sequences])


def get_sequence_response(encoded_sequence: bytes) -> bytes:
    """Serialized kairos.v1.GetSequenceResponse from a serialized Sequence."""
    return _field(_TAG_RESPONSE_SEQUENCE, encoded_sequence)
