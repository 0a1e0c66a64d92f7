"""The kairos.v1.Ranker gRPC servicer: validation, deadlines, and delegation to the pipelines."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from kairos.v1 import ranker_pb2, ranker_pb2_grpc
from ranker.service.items import ItemService
from ranker.service.model import target_domains
from ranker.service.recommend import RecommendPipeline
from ranker.service.similar import SimilarItemsService
from ranker.service.state import ServingState
from ranker.service.validation import RequestValidator


class RankerServicer(ranker_pb2_grpc.RankerServicer):
    """Recommend / UpsertItems / DeleteItems / SimilarItems."""

    def __init__(
        self,
        validator: RequestValidator,
        state: Callable[[], ServingState],
        recommender: RecommendPipeline,
        items: ItemService,
        similar: SimilarItemsService,
    ) -> None:
        self._validator = validator
        self._state = state
        self._recommender = recommender
        self._items = items
        self._similar = similar
        self._stages = recommender.stages

    async def Recommend(
        self, request: ranker_pb2.RecommendRequest, context: grpc.aio.ServicerContext
    ) -> ranker_pb2.RecommendResponse:
        started = time.perf_counter()
        query = self._validator.recommend(request, target_domains(self._state().model))
        self._stages["validate"].observe(time.perf_counter() - started)
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        answer = await self._recommender.recommend(query, deadline)
        answered = time.perf_counter()
        reply = answer.to_proto()
        self._stages["response"].observe(time.perf_counter() - answered)
        return reply

    async def UpsertItems(
        self, request: ranker_pb2.UpsertItemsRequest, context: grpc.aio.ServicerContext
    ) -> ranker_pb2.UpsertItemsResponse:
        return await self._items.upsert(request)

    async def DeleteItems(
        self, request: ranker_pb2.DeleteItemsRequest, context: grpc.aio.ServicerContext
    ) -> ranker_pb2.DeleteItemsResponse:
        return await self._items.delete(request)

    async def SimilarItems(
        self, request: ranker_pb2.SimilarItemsRequest, context: grpc.aio.ServicerContext
    ) -> ranker_pb2.SimilarItemsResponse:
        return await self._similar.similar(request, context)
