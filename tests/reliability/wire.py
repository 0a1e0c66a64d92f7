"""Hand-built protobuf wire bytes, so tests can send what generated code refuses to (invalid UTF-8 strings)."""

from __future__ import annotations

from collections.abc import Callable

import grpc

LENGTH_DELIMITED = 2


def varint(value: int) -> bytes:
    """Base-128 varint; negative int64 values take ten bytes as on the wire."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def int_field(number: int, value: int) -> bytes:
    """A varint field (int32/int64/bool)."""
    return varint(number << 3) + varint(value)


def bytes_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: a string (any bytes, valid UTF-8 or not), bytes or an embedded message."""
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


def raw_unary(channel: grpc.Channel, method: str) -> Callable[..., bytes]:
    """A callable sending raw request bytes to `method` (e.g. '/kairos.v1.UserState/AppendEvents')."""
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
