"""GetSequences replies split by hand and each user's decoded events reused while the user's bytes stay the same:
the same events as protobuf's own parse, a changed history decoded afresh, odd bytes left to protobuf."""

from __future__ import annotations

from pathlib import Path

import pytest

from kairos.v1 import user_state_pb2
from tests.user_state.builders import T0, ev
from tests.user_state.test_server_process import start_server
from user_state import wire
from user_state.client import UserStateClient
from user_state.events import Event, from_proto
from user_state.sequence_cache import DecodedSequences, split_sequences


def _reply(users: dict[str, list[Event]]) -> bytes:
    return wire.get_sequences_response([wire.sequence(u, events) for u, events in users.items()])


def _protobuf(reply: bytes) -> list[list[Event]]:
    return [[from_proto(e) for e in s.events] for s in user_state_pb2.GetSequencesResponse.FromString(reply).sequences]


USERS = {
    "a": [ev("a", f"e{j}", T0 + j, item="i" * (j * 40)) for j in range(6)],  # events past 127 bytes
    "nobody": [],
    "b": [ev("b", "x", T0, domain="books", event_type="view")],
}


def test_split_and_decode_equal_protobufs_parse() -> None:
    reply = _reply(USERS)
    chunks = split_sequences(reply)
    assert chunks is not None and len(chunks) == 3
    cache = DecodedSequences(16)
    assert cache.decode(reply) == _protobuf(reply) == list(USERS.values())
    assert cache.counts == (0, 3)
    again = cache.decode(reply)
    assert again == list(USERS.values()) and cache.counts == (3, 3)  # every user from the cache
    assert DecodedSequences(0).decode(reply) == list(USERS.values())  # capacity 0: protobuf's parse
    assert split_sequences(b"") == [] and DecodedSequences(4).decode(b"") == []


def test_a_changed_history_is_decoded_afresh_and_the_others_reused() -> None:
    cache = DecodedSequences(16)
    cache.decode(_reply(USERS))
    changed = {**USERS, "b": [*USERS["b"], ev("b", "y", T0 + 5)]}
    assert cache.decode(_reply(changed)) == list(changed.values())
    assert cache.counts == (2, 4)  # a and nobody hit, b missed


@pytest.mark.parametrize(
    "reply",
    [
        b"\x12\x00",  # another field number
        b"\x0a\x05ab",  # a length past the end
        b"\x0a\xff",  # a varint cut short
    ],
)
def test_unexpected_bytes_are_left_to_protobuf(reply: bytes) -> None:
    assert split_sequences(reply) is None
    try:
        expected = _protobuf(reply)
    except Exception as exc:
        with pytest.raises(type(exc)):
            DecodedSequences(4).decode(reply)
    else:
        assert DecodedSequences(4).decode(reply) == expected


async def test_a_client_with_the_cache_reads_what_the_server_stores(tmp_path: Path) -> None:
    served = start_server(tmp_path, "--store", "embedded", "--data-dir", str(tmp_path / "data"))
    try:
        async with (
            UserStateClient(served.address, default_timeout_s=5, sequence_cache_size=8) as cached,
            UserStateClient(served.address, default_timeout_s=5) as plain,
        ):
            await plain.append_events([ev("u", "a", T0 + 1), ev("v", "b", T0, domain="books")])
            first = await cached.get_sequences(["u", "v", "nobody"])
            assert first == await plain.get_sequences(["u", "v", "nobody"])
            assert await cached.get_sequences(["v", "u"]) == [first[1], first[0]]
            assert cached.sequences.counts == (2, 3)
            await plain.append_events([ev("u", "c", T0 + 2)])
            assert [[e.event_id for e in s] for s in await cached.get_sequences(["u", "v"])] == [["a", "c"], ["b"]]
            assert cached.sequences.counts == (3, 4)  # u changed: decoded afresh; v reused
            limited = await cached.get_sequences(["u"], limit=1)  # a filtered reply is other bytes
            assert [e.event_id for e in limited[0]] == ["c"]
    finally:
        assert served.proc.terminate() == 0
