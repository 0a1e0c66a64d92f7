"""Request messages built from typed arguments (shared by the asyncio and the blocking clients)."""

from __future__ import annotations

from collections.abc import Iterable

from kairos.client.inputs import EventLike, FilterLike, ItemLike, events_proto, filter_proto, item_proto
from kairos.v1 import ranker_pb2, user_state_pb2


def recommend(
    user_id: str,
    k: int,
    *,
    request_time_ms: int = 0,
    candidate_ids: Iterable[str] = (),
    exclude_seen: bool = False,
    target_domain: str = "",
    recent_events: Iterable[EventLike] = (),
    exclude_ids: Iterable[str] = (),
    filter: FilterLike | None = None,
) -> ranker_pb2.RecommendRequest:
    return ranker_pb2.RecommendRequest(
        user_id=user_id, k=k, request_time_ms=request_time_ms, candidate_ids=list(candidate_ids),
        exclude_seen=exclude_seen, target_domain=target_domain, recent_events=events_proto(recent_events),
        exclude_ids=list(exclude_ids), filter=filter_proto(filter),
    )  # fmt: skip


def similar_items(
    item_id: str | None,
    *,
    content: ItemLike | None = None,
    k: int,
    candidate_ids: Iterable[str] = (),
    exclude_ids: Iterable[str] = (),
    user_id: str = "",
    filter: FilterLike | None = None,
) -> ranker_pb2.SimilarItemsRequest:
    """The query is exactly one of `item_id` (an item of the catalogue) or `content` (encoded, not stored)."""
    if (item_id is None) == (content is None):
        raise ValueError("pass exactly one of item_id or content")
    request = ranker_pb2.SimilarItemsRequest(
        k=k, candidate_ids=list(candidate_ids), exclude_ids=list(exclude_ids), user_id=user_id,
        filter=filter_proto(filter),
    )  # fmt: skip
    if content is not None:
        request.content.CopyFrom(item_proto(content))
    else:
        request.item_id = item_id or ""
    return request


def upsert_items(items: Iterable[ItemLike]) -> ranker_pb2.UpsertItemsRequest:
    return ranker_pb2.UpsertItemsRequest(items=[item_proto(i) for i in items])


def delete_items(item_ids: Iterable[str]) -> ranker_pb2.DeleteItemsRequest:
    return ranker_pb2.DeleteItemsRequest(item_ids=list(item_ids))


def sequence_filter(limit: int, since_ms: int, until_ms: int, domain: str) -> user_state_pb2.SequenceFilter:
    return user_state_pb2.SequenceFilter(limit=limit, since_ms=since_ms, until_ms=until_ms, domain=domain)


def append_events(events: Iterable[EventLike]) -> user_state_pb2.AppendEventsRequest:
    return user_state_pb2.AppendEventsRequest(events=events_proto(events))


def get_sequence(
    user_id: str, limit: int = 0, since_ms: int = 0, until_ms: int = 0, domain: str = ""
) -> user_state_pb2.GetSequenceRequest:
    return user_state_pb2.GetSequenceRequest(user_id=user_id, filter=sequence_filter(limit, since_ms, until_ms, domain))


def get_sequences(
    user_ids: Iterable[str], limit: int = 0, since_ms: int = 0, until_ms: int = 0, domain: str = ""
) -> user_state_pb2.GetSequencesRequest:
    return user_state_pb2.GetSequencesRequest(
        user_ids=list(user_ids), filter=sequence_filter(limit, since_ms, until_ms, domain)
    )


def delete_user(user_id: str) -> user_state_pb2.DeleteUserRequest:
    return user_state_pb2.DeleteUserRequest(user_id=user_id)
