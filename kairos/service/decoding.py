"""Request decoding that turns malformed protobuf into INVALID_ARGUMENT naming the field, not UNKNOWN.

grpc.aio deserializes a request before any interceptor behaviour runs; a DecodeError there (truncated bytes,
a string field holding invalid UTF-8) would reach the caller as UNKNOWN with a Python exception name. The
deserializer is wrapped so such a request arrives as an `UndecodableRequest` the error mapping rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

_LENGTH_DELIMITED = 2


@dataclass(frozen=True)
class UndecodableRequest:
    """Stands in for a request whose bytes are not a valid message; `problem` names the field when it can."""

    problem: str


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _skip(data: bytes, pos: int, wire_type: int) -> tuple[int, bytes | None]:
    """Advance past one field value; return the new position and the payload of a length-delimited one."""
    if wire_type == 0:
        return _varint(data, pos)[1], None
    if wire_type == 1:
        return pos + 8, None
    if wire_type == 5:
        return pos + 4, None
    if wire_type == _LENGTH_DELIMITED:
        length, pos = _varint(data, pos)
        if pos + length > len(data):
            raise ValueError("truncated length-delimited field")
        return pos + length, data[pos : pos + length]
    raise ValueError(f"unsupported wire type {wire_type}")


def locate_problem(data: bytes, descriptor: Descriptor, prefix: str = "") -> str | None:
    """Name the first field of `data` (a serialized `descriptor` message) that is not valid UTF-8 text."""
    counts: dict[int, int] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        pos, payload = _skip(data, pos, wire_type)
        field = descriptor.fields_by_number.get(number)
        if field is None or payload is None:
            continue
        index = counts.get(number, 0)
        counts[number] = index + 1
        name = f"{prefix}{field.name}"
        if field.label == FieldDescriptor.LABEL_REPEATED and not field.message_type:
            name = f"{name}[{index}]"
        if field.type == FieldDescriptor.TYPE_STRING:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                return f"{name}: is not valid UTF-8"
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            entry = field.message_type
            inner = f"{name}[{index}]." if field.label == FieldDescriptor.LABEL_REPEATED else f"{name}."
            if entry.GetOptions().map_entry:
                inner = f"{name}."
            found = locate_problem(payload, entry, inner)
            if found is not None:
                return found
    return None


def _describe(data: bytes, message_type: Any) -> str:
    descriptor = getattr(message_type, "DESCRIPTOR", None)
    if descriptor is not None:
        try:
            found = locate_problem(data, descriptor)
        except ValueError:
            found = None
        if found is not None:
            return found
        return f"request: is not a valid {descriptor.full_name} message (malformed protobuf)"
    return "request: is not a valid protobuf message"


def tolerant_deserializer(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """Wrap a request deserializer so undecodable bytes become an `UndecodableRequest` instead of raising."""
    if deserializer is None:
        return None
    message_type = getattr(deserializer, "__self__", None)

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return UndecodableRequest(_describe(data, message_type))

    return deserialize
