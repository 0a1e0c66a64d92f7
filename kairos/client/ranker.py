"""Clients of kairos.v1.Ranker: Recommend, SimilarItems, UpsertItems, DeleteItems."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, overload

from kairos.client import requests
from kairos.client.base import DEFAULT_TIMEOUT_S, AsyncClient, BlockingClient, Route
from kairos.client.inputs import EventLike, FilterLike, ItemLike
from kairos.client.results import DeleteResult, Recommendation, SimilarItems, UpsertResult
from kairos.service.channel import ChannelSettings
from kairos.v1 import ranker_pb2, ranker_pb2_grpc

RankerRequest = (
    ranker_pb2.RecommendRequest | ranker_pb2.SimilarItemsRequest | ranker_pb2.UpsertItemsRequest
    | ranker_pb2.DeleteItemsRequest
)  # fmt: skip
RankerResult = Recommendation | SimilarItems | UpsertResult | DeleteResult

_ROUTES: dict[Any, Route] = {
    ranker_pb2.RecommendRequest: ("Recommend", Recommendation.from_proto),
    ranker_pb2.SimilarItemsRequest: ("SimilarItems", SimilarItems.from_proto),
    ranker_pb2.UpsertItemsRequest: ("UpsertItems", UpsertResult.from_proto),
    ranker_pb2.DeleteItemsRequest: ("DeleteItems", DeleteResult.from_proto),
}


class RankerClient(AsyncClient):
    """asyncio client of the Ranker. Failures raise :class:`kairos.client.KairosError` subclasses.

    ``target`` is "host:port" or ChannelSettings (TLS/mTLS, token file, attempts on UNAVAILABLE); ``token`` a
    bearer token; ``timeout_s`` the default deadline of every call (each method's ``timeout_s`` overrides it).
    """

    _routes = _ROUTES

    def __init__(
        self,
        target: ChannelSettings | str,
        *,
        token: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(target, token=token, metadata=metadata, timeout_s=timeout_s)
        self._stub = ranker_pb2_grpc.RankerStub(self.channel)

    async def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        request_time_ms: int = 0,
        candidate_ids: Iterable[str] = (),
        exclude_seen: bool = False,
        target_domain: str = "",
        recent_events: Iterable[EventLike] = (),
        exclude_ids: Iterable[str] = (),
        filter: FilterLike | None = None,
        timeout_s: float | None = None,
    ) -> Recommendation:
        """Top-k items for `user_id` at `request_time_ms` (0 = the server's clock); see ranker.proto."""
        request = requests.recommend(
            user_id, k, request_time_ms=request_time_ms, candidate_ids=candidate_ids, exclude_seen=exclude_seen,
            target_domain=target_domain, recent_events=recent_events, exclude_ids=exclude_ids, filter=filter,
        )  # fmt: skip
        return await self.send(request, timeout_s=timeout_s)

    async def similar_items(
        self,
        item_id: str | None = None,
        *,
        content: ItemLike | None = None,
        k: int = 10,
        candidate_ids: Iterable[str] = (),
        exclude_ids: Iterable[str] = (),
        user_id: str = "",
        filter: FilterLike | None = None,
        timeout_s: float | None = None,
    ) -> SimilarItems:
        """Items most like `item_id` (NotFoundError when unknown) or like inline `content`."""
        request = requests.similar_items(
            item_id, content=content, k=k, candidate_ids=candidate_ids, exclude_ids=exclude_ids, user_id=user_id,
            filter=filter,
        )  # fmt: skip
        return await self.send(request, timeout_s=timeout_s)

    async def upsert_items(self, items: Iterable[ItemLike], *, timeout_s: float | None = None) -> UpsertResult:
        """Create or replace items; a rejected item is reported in its result and does not fail the others."""
        return await self.send(requests.upsert_items(items), timeout_s=timeout_s)

    async def delete_items(self, item_ids: Iterable[str], *, timeout_s: float | None = None) -> DeleteResult:
        """Remove items from every replica."""
        return await self.send(requests.delete_items(item_ids), timeout_s=timeout_s)

    @overload
    async def send(self, request: ranker_pb2.RecommendRequest, *, timeout_s: float | None = None) -> Recommendation: ...
    @overload
    async def send(
        self, request: ranker_pb2.SimilarItemsRequest, *, timeout_s: float | None = None
    ) -> SimilarItems: ...
    @overload
    async def send(self, request: ranker_pb2.UpsertItemsRequest, *, timeout_s: float | None = None) -> UpsertResult: ...
    @overload
    async def send(self, request: ranker_pb2.DeleteItemsRequest, *, timeout_s: float | None = None) -> DeleteResult: ...
    async def send(self, request: RankerRequest, *, timeout_s: float | None = None) -> RankerResult:
        """Send a prepared request message (the RPC follows from its type); returns the typed result."""
        return await self._send(self._stub, request, timeout_s)


class SyncRankerClient(BlockingClient):
    """Blocking client of the Ranker (threads, gevent); the same methods as :class:`RankerClient`."""

    _routes = _ROUTES

    def __init__(
        self,
        target: ChannelSettings | str,
        *,
        token: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(target, token=token, metadata=metadata, timeout_s=timeout_s)
        self._stub = ranker_pb2_grpc.RankerStub(self.channel)

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        request_time_ms: int = 0,
        candidate_ids: Iterable[str] = (),
        exclude_seen: bool = False,
        target_domain: str = "",
        recent_events: Iterable[EventLike] = (),
        exclude_ids: Iterable[str] = (),
        filter: FilterLike | None = None,
        timeout_s: float | None = None,
    ) -> Recommendation:
        """Top-k items for `user_id` at `request_time_ms` (0 = the server's clock); see ranker.proto."""
        request = requests.recommend(
            user_id, k, request_time_ms=request_time_ms, candidate_ids=candidate_ids, exclude_seen=exclude_seen,
            target_domain=target_domain, recent_events=recent_events, exclude_ids=exclude_ids, filter=filter,
        )  # fmt: skip
        return self.send(request, timeout_s=timeout_s)

    def similar_items(
        self,
        item_id: str | None = None,
        *,
        content: ItemLike | None = None,
        k: int = 10,
        candidate_ids: Iterable[str] = (),
        exclude_ids: Iterable[str] = (),
        user_id: str = "",
        filter: FilterLike | None = None,
        timeout_s: float | None = None,
    ) -> SimilarItems:
        """Items most like `item_id` (NotFoundError when unknown) or like inline `content`."""
        request = requests.similar_items(
            item_id, content=content, k=k, candidate_ids=candidate_ids, exclude_ids=exclude_ids, user_id=user_id,
            filter=filter,
        )  # fmt: skip
        return self.send(request, timeout_s=timeout_s)

    def upsert_items(self, items: Iterable[ItemLike], *, timeout_s: float | None = None) -> UpsertResult:
        """Create or replace items; a rejected item is reported in its result and does not fail the others."""
        return self.send(requests.upsert_items(items), timeout_s=timeout_s)

    def delete_items(self, item_ids: Iterable[str], *, timeout_s: float | None = None) -> DeleteResult:
        """Remove items from every replica."""
        return self.send(requests.delete_items(item_ids), timeout_s=timeout_s)

    @overload
    def send(self, request: ranker_pb2.RecommendRequest, *, timeout_s: float | None = None) -> Recommendation: ...
    @overload
    def send(self, request: ranker_pb2.SimilarItemsRequest, *, timeout_s: float | None = None) -> SimilarItems: ...
    @overload
    def send(self, request: ranker_pb2.UpsertItemsRequest, *, timeout_s: float | None = None) -> UpsertResult: ...
    @overload
    def send(self, request: ranker_pb2.DeleteItemsRequest, *, timeout_s: float | None = None) -> DeleteResult: ...
    def send(self, request: RankerRequest, *, timeout_s: float | None = None) -> RankerResult:
        """Send a prepared request message (the RPC follows from its type); returns the typed result."""
        return self._send(self._stub, request, timeout_s)
