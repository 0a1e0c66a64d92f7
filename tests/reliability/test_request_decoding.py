"""Unit tests of kairos.service.decoding: undecodable request bytes are named, never raised."""

from __future__ import annotations

from kairos.service.decoding import UndecodableRequest, locate_problem, tolerant_deserializer
from kairos.v1 import ranker_pb2, user_state_pb2
from tests.reliability.wire import bytes_field, int_field


def test_names_the_string_field_holding_invalid_utf8_inside_repeated_messages() -> None:
    good = bytes_field(1, b"e0") + bytes_field(2, b"u")
    bad = bytes_field(1, b"e1") + bytes_field(3, b"\xc3\x28")  # item_id: a broken two-byte sequence
    data = bytes_field(1, good) + bytes_field(1, bad)
    assert (
        locate_problem(data, user_state_pb2.AppendEventsRequest.DESCRIPTOR) == "events[1].item_id: is not valid UTF-8"
    )


def test_names_repeated_strings_and_map_values() -> None:
    ids = bytes_field(1, b"ok") + bytes_field(1, b"\xff")
    assert locate_problem(ids, ranker_pb2.DeleteItemsRequest.DESCRIPTOR) == "item_ids[1]: is not valid UTF-8"
    entry = bytes_field(1, b"title") + bytes_field(2, b"\xed\xa0\x80")  # an encoded surrogate is not UTF-8
    item = bytes_field(1, b"i1") + bytes_field(3, entry)
    request = bytes_field(1, item)
    found = locate_problem(request, ranker_pb2.UpsertItemsRequest.DESCRIPTOR)
    assert found == "items[0].text_fields.value: is not valid UTF-8"


def test_bytes_fields_may_hold_anything() -> None:
    item = bytes_field(1, b"i1") + bytes_field(4, b"\xff\xfe\x00")  # image is `bytes`
    assert locate_problem(bytes_field(1, item), ranker_pb2.UpsertItemsRequest.DESCRIPTOR) is None


def test_tolerant_deserializer_decodes_good_bytes_and_describes_bad_ones() -> None:
    deserialize = tolerant_deserializer(user_state_pb2.GetSequenceRequest.FromString)
    assert deserialize(bytes_field(1, b"u")) == user_state_pb2.GetSequenceRequest(user_id="u")
    assert deserialize(bytes_field(1, b"\x80")) == UndecodableRequest("user_id: is not valid UTF-8")
    truncated = deserialize(bytes_field(1, b"abc")[:-1])
    assert truncated == UndecodableRequest(
        "request: is not a valid kairos.v1.GetSequenceRequest message (malformed protobuf)"
    )
    assert isinstance(deserialize(b"\x08\xff"), UndecodableRequest)  # a varint that never ends
    # A field of the wrong wire type is kept as an unknown field by protobuf: decodable, left to validation.
    kept = deserialize(int_field(2, 5))
    assert isinstance(kept, user_state_pb2.GetSequenceRequest) and not kept.HasField("filter")
