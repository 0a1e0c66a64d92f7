"""SimilarItems: "more like this" from the served model's item space, through the same index as Recommend."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import numpy as np

from encoders.item_text import build_item_text
from kairos.service.errors import InvalidArgument, NotFound
from kairos.v1 import ranker_pb2
from ranker.index import ItemFilterSpec
from ranker.index.query import SearchQuery, SearchResult
from ranker.service.compute import ComputeWorker
from ranker.service.items import ItemService
from ranker.service.settings import RankerSettings
from ranker.service.state import ServingState
from ranker.service.validation import RequestValidator
from user_state.client import UserStateClient

log = logging.getLogger(__name__)
Degradation = ranker_pb2.Degradation
QUERY_ID = "similar-items-query"  # the id an inline query is projected under: never a trained item


@dataclass(frozen=True)
class SimilarQuery:
    """A validated SimilarItems request."""

    item_id: str | None
    content: ranker_pb2.Item | None
    k: int
    candidate_ids: list[str] | None
    exclude_ids: frozenset[str]
    user_id: str
    filter: ItemFilterSpec | None = None


def validate_similar(validator: RequestValidator, request: ranker_pb2.SimilarItemsRequest) -> SimilarQuery:
    """Checks naming the field; exactly one query kind."""
    s = validator.s
    kind = request.WhichOneof("query")
    if kind is None:
        raise InvalidArgument("query", "set exactly one of item_id or content")
    if not 1 <= request.k <= s.max_k:
        raise InvalidArgument("k", f"must be in 1..{s.max_k}, got {request.k}")
    if kind == "item_id":
        validator.identifier("item_id", request.item_id)
    validator.ids("candidate_ids", request.candidate_ids)
    validator.ids("exclude_ids", request.exclude_ids)
    if request.user_id:
        validator.identifier("user_id", request.user_id)
    return SimilarQuery(
        item_id=request.item_id if kind == "item_id" else None,
        content=request.content if kind == "content" else None,
        k=request.k,
        candidate_ids=list(request.candidate_ids) or None,
        exclude_ids=frozenset(request.exclude_ids) | ({request.item_id} if kind == "item_id" else set()),
        user_id=request.user_id,
        filter=validator.item_filter("filter", request.filter) if request.HasField("filter") else None,
    )


class SimilarItemsService:
    """Resolves the query vector (index row or freshly encoded content), then one index search."""

    def __init__(
        self,
        settings: RankerSettings,
        state: Callable[[], ServingState],
        items: ItemService,
        worker: ComputeWorker,
        user_state: UserStateClient,
    ) -> None:
        self.s = settings
        self._state = state
        self._items = items
        self._worker = worker
        self._user_state = user_state
        self._validator = RequestValidator(settings)

    async def similar(
        self, request: ranker_pb2.SimilarItemsRequest, context: grpc.aio.ServicerContext
    ) -> ranker_pb2.SimilarItemsResponse:
        query = validate_similar(self._validator, request)
        flags: list[ranker_pb2.Degradation] = []
        exclude = set(query.exclude_ids)
        if query.user_id:
            try:
                events = await self._user_state.get_sequence(
                    query.user_id, limit=self.s.history_fetch_limit, timeout_s=self.s.user_state.timeout_s
                )
                exclude |= {e.item_id for e in events}
            except (grpc.aio.AioRpcError, TimeoutError, OSError) as exc:
                log.warning(
                    "SimilarItems: user-state unavailable; answering without the user's history",
                    extra={"error": str(exc)},
                )
                flags.append(Degradation.DEGRADATION_USER_STATE_UNAVAILABLE)
        content = await self._encode(query.content) if query.content is not None else None
        result, version = await self._worker.run(self._search, query, content, frozenset(exclude))
        return ranker_pb2.SimilarItemsResponse(
            items=[
                ranker_pb2.ScoredItem(item_id=i, score=float(x))
                for i, x in zip(result.item_ids, result.scores, strict=True)
            ],
            model_version=version,
            unknown_candidate_ids=result.unknown_candidate_ids,
            degradations=flags,
        )

    async def _encode(self, item: ranker_pb2.Item) -> tuple[np.ndarray | None, np.ndarray | None]:
        text = item.text or build_item_text(dict(item.text_fields), self.s.text_field_order)
        probe = ranker_pb2.Item(item_id=QUERY_ID, text=item.text, text_fields=item.text_fields, image=item.image)
        problem = self._validator.upsert_item(0, probe, text, prefix="content")
        if problem is not None:
            raise _invalid(problem)
        errors: list[str | None] = [None]
        texts, images = await self._items.encode([probe], [text], errors, field=lambda _: "content")
        if errors[0] is not None:
            raise _invalid(errors[0])
        return texts.get(0), images.get(0)

    def _search(
        self,
        query: SimilarQuery,
        content: tuple[np.ndarray | None, np.ndarray | None] | None,
        exclude: frozenset[str],
    ) -> tuple[SearchResult, str]:
        """Worker thread: the query item's vector, its model columns only, as the 'user' of one index search."""
        state = self._state()
        model, index = state.model, state.index
        if content is None:
            assert query.item_id is not None
            if query.item_id not in index:
                raise NotFound("item_id", f"{query.item_id!r} is not in the catalogue")
            vector = index.vectors_of([query.item_id])[0]
        else:
            text, image = content
            vector = model.item_vectors(
                (text if text is not None else np.zeros(model.text_dim, np.float32))[None],
                (image if image is not None else np.zeros(model.image_dim, np.float32))[None],
                np.array([text is not None]),
                np.array([image is not None]),
                item_ids=[QUERY_ID],
            )[0]
        user = np.zeros((1, model.dim), dtype=np.float32)
        user[0, : model.model_dim] = vector[: model.model_dim]
        search = SearchQuery(
            user=0, k=query.k, exclude_ids=exclude, candidate_ids=query.candidate_ids, filter=query.filter
        )
        return index.search(user, [search])[0], model.version


def _invalid(problem: str) -> InvalidArgument:
    """A per-item problem ("field: what is wrong", as UpsertItems reports it) as the request's error."""
    field, _, detail = problem.partition(": ")
    return InvalidArgument(field, detail)
