"""Decoding GetSequences replies with a cache of each user's decoded events, keyed by the user's bytes.

Between two events of a user, every reply carries the same serialized ``Sequence`` for that user (the server
re-sends the bytes it stores), so its events are turned into ``Event`` objects once and reused until the bytes
change. The reply is split into its ``sequences`` fields by reading the wire format (a tag and a varint length
per user, not per event); anything unexpected falls back to the protobuf parser.
"""

from __future__ import annotations

import hashlib

from kairos.lru import LruCache
from kairos.v1 import events_pb2, user_state_pb2
from user_state.events import Event, from_proto

_SEQUENCES_FIELD = 0x0A  # GetSequencesResponse.sequences = 1, length-delimited


def split_sequences(reply: bytes) -> list[bytes] | None:
    """The serialized ``Sequence`` of each user of a GetSequencesResponse, in order; None when the bytes hold
    anything but ``sequences`` fields (let the protobuf parser read them)."""
    out: list[bytes] = []
    view, pos, end = memoryview(reply), 0, len(reply)
    while pos < end:
        if reply[pos] != _SEQUENCES_FIELD:
            return None
        pos += 1
        length, shift = 0, 0
        while True:
            if pos >= end or shift > 63:
                return None
            byte = reply[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        if pos + length > end:
            return None
        out.append(bytes(view[pos : pos + length]))
        pos += length
    return out


class DecodedSequences:
    """LRU of decoded event lists keyed by a digest of each user's serialized ``Sequence``; ``capacity`` 0
    decodes every reply in full. The lists are shared between calls: callers must not modify them."""

    def __init__(self, capacity: int) -> None:
        self._cache: LruCache[bytes, list[Event]] = LruCache(capacity, name="sequence_cache_size")

    @property
    def counts(self) -> tuple[int, int]:
        """(hits, misses) so far."""
        return self._cache.hits, self._cache.misses

    def decode(self, reply: bytes) -> list[list[Event]]:
        """Each user's events (oldest first) from a serialized GetSequencesResponse, in request order."""
        chunks = split_sequences(reply) if self._cache.capacity else None
        if chunks is None:
            parsed = user_state_pb2.GetSequencesResponse.FromString(reply)
            return [[from_proto(e) for e in seq.events] for seq in parsed.sequences]
        out = []
        for chunk in chunks:
            key = hashlib.blake2b(chunk, digest_size=16).digest()
            events = self._cache.get(key)
            if events is None:
                events = [from_proto(e) for e in events_pb2.Sequence.FromString(chunk).events]
                self._cache.put(key, events)
            out.append(events)
        return out
