"""What the client puts on the wire and how it maps status codes: filters, item attributes, the error classes."""

from __future__ import annotations

import grpc
import pytest

from kairos.client import (
    DeadlineExceededError,
    Event,
    InvalidArgumentError,
    Item,
    ItemFilter,
    KairosError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from kairos.client import requests as build
from kairos.client.errors import error_for
from kairos.v1 import events_pb2, ranker_pb2


def test_filters_and_item_attributes_reach_the_request_messages() -> None:
    rules = ItemFilter(include={"region": "eu", "format": ["film", "series"]}, exclude={"rating": "R"},
                       published_after_ms=5)  # fmt: skip
    request = build.recommend("u", 3, filter=rules, recent_events=[Event("e", "u", "i", 1)], exclude_ids=["x"])
    assert request.filter == ranker_pb2.ItemFilter(
        include=[
            ranker_pb2.AttributeCondition(key="region", values=["eu"]),
            ranker_pb2.AttributeCondition(key="format", values=["film", "series"]),
        ],
        exclude=[ranker_pb2.AttributeCondition(key="rating", values=["R"])],
        published_after_ms=5,
    )
    assert request.recent_events == [events_pb2.Event(event_id="e", user_id="u", item_id="i", timestamp_ms=1)]
    assert not build.recommend("u", 3).HasField("filter")  # no filter: every item is eligible

    similar = build.similar_items(None, content=Item("q", text="a film"), k=2, filter=rules.to_proto())
    assert similar.WhichOneof("query") == "content" and similar.filter.published_after_ms == 5
    assert build.similar_items("7", k=2).WhichOneof("query") == "item_id"

    item = Item("i1", text_fields={"title": "T"}, attributes={"region": "eu"}, published_ms=9).to_proto()
    upsert = build.upsert_items([item, Item("i2", text="x", attributes={"in_stock": "true"})])
    assert dict(upsert.items[0].attributes) == {"region": "eu"} and upsert.items[0].published_ms == 9
    assert dict(upsert.items[1].attributes) == {"in_stock": "true"} and upsert.items[1].published_ms == 0


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDeniedError),
        (grpc.StatusCode.UNAUTHENTICATED, UnauthenticatedError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceededError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhaustedError),
    ],
)
def test_each_status_code_has_its_exception(code: grpc.StatusCode, cls: type[KairosError]) -> None:
    error = error_for(code, "items[2].image: not a JPEG or PNG")
    assert type(error) is cls and isinstance(error, KairosError)
    assert error.code == code and error.message == "items[2].image: not a JPEG or PNG"
    assert error.field == "items[2].image" and str(error) == f"{code.name}: {error.message}"


def test_a_message_without_a_field_has_none() -> None:
    assert error_for(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses").field is None
    assert error_for(grpc.StatusCode.INTERNAL, "internal error").code == grpc.StatusCode.INTERNAL
