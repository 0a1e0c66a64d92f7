"""Hand-assembled responses decode to exactly what protobuf itself would build."""

from __future__ import annotations

import pytest

from kairos.v1 import events_pb2, user_state_pb2
from tests.user_state.builders import T0, ev
from user_state import wire
from user_state.events import from_wire, to_proto


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16_383, 16_384, 2**21, 2**35])
def test_varint_matches_protobuf(value: int) -> None:
    # Sequence.user_id of n bytes is encoded as tag 0x0a, varint(n), the bytes.
    user_id = "x" * value if value < 70_000 else ""
    if user_id:
        expected = events_pb2.Sequence(user_id=user_id).SerializeToString()
        assert expected == b"\x0a" + wire.varint(value) + user_id.encode()
    assert wire.varint(value) == _reference_varint(value)


def _reference_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_get_sequences_response_round_trips() -> None:
    long_item = "i" * 300  # an Event longer than 127 bytes: two-byte length prefix
    users = {
        "ü-user": [ev("ü-user", "a", T0, domain="movies"), ev("ü-user", "b", T0 + 1, item=long_item)],
        "empty": [],
        "": [ev("", "c", T0 + 2, event_type="")],
    }
    encoded = [wire.sequence(user_id, events) for user_id, events in users.items()]
    decoded = user_state_pb2.GetSequencesResponse.FromString(wire.get_sequences_response(encoded))
    expected = user_state_pb2.GetSequencesResponse(
        sequences=[
            events_pb2.Sequence(user_id=user_id, events=[to_proto(e) for e in events])
            for user_id, events in users.items()
        ]
    )
    assert decoded == expected
    single = user_state_pb2.GetSequenceResponse.FromString(wire.get_sequence_response(encoded[0]))
    assert single.sequence == expected.sequences[0]


def test_event_wire_round_trip() -> None:
    event = ev("u", "e", T0, domain="books", event_type="purchase")
    again = from_wire(event.wire)
    assert again == event
    assert again.wire is not None and again.wire == event.wire
