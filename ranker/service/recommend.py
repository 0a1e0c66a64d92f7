"""Recommend, micro-batched: one GetSequences call, one forward pass and one scoring matmul per batch."""

from __future__ import annotations

import functools
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import grpc
import numpy as np
from prometheus_client import Histogram

from kairos.v1 import ranker_pb2
from ranker.index import SearchQuery, SearchResult
from ranker.index.facets import ItemFilterSpec
from ranker.index.item_index import ItemIndex
from ranker.service.batcher import MicroBatcher
from ranker.service.compute import ComputeWorker
from ranker.service.history import HistoryBatch, UsableHistory, assemble, merge_events, usable_history
from ranker.service.metrics import RankerMetrics
from ranker.service.model import user_vectors
from ranker.service.new_items import NewItemContenders, NewItems
from ranker.service.popularity import PopularityRanker
from ranker.service.repeat import history_item_bias, merge_history, search_without
from ranker.service.settings import RankerSettings
from ranker.service.state import ServingState
from ranker.service.validation import RecommendQuery
from user_state.client import UserStateClient
from user_state.events import Event

log = logging.getLogger(__name__)
Degradation = ranker_pb2.Degradation
FETCH_WARNING_INTERVAL_S = 5.0  # at most one "user state unavailable" log line per interval


@dataclass
class Pending:
    """A validated query and the monotonic time by which its caller needs the answer (None: no deadline)."""

    query: RecommendQuery
    deadline: float | None
    submitted: float = field(default_factory=time.perf_counter)


@dataclass
class Answer:
    items: list[tuple[str, float]]
    model_version: str
    degradations: list[ranker_pb2.Degradation] = field(default_factory=list)
    unknown_candidate_ids: list[str] = field(default_factory=list)
    history_length: int = 0
    request_time_ms: int = 0

    def to_proto(self) -> ranker_pb2.RecommendResponse:
        return ranker_pb2.RecommendResponse(
            items=[ranker_pb2.ScoredItem(item_id=i, score=s) for i, s in self.items],
            model_version=self.model_version,
            degradations=self.degradations,
            unknown_candidate_ids=self.unknown_candidate_ids,
            history_length=self.history_length,
            request_time_ms=self.request_time_ms,
        )


class RecommendPipeline:
    """Validated queries in, answers out; batches share the user-state call, the forward pass and the matmul."""

    def __init__(
        self,
        settings: RankerSettings,
        state: Callable[[], ServingState],
        user_state: UserStateClient,
        worker: ComputeWorker,
        popularity: PopularityRanker,
        metrics: RankerMetrics,
    ) -> None:
        self.s = settings
        self._state = state
        self._user_state = user_state
        self._worker = worker
        self._popularity = popularity
        self._metrics = metrics
        self._failed_fetches = 0
        self._last_warning = -FETCH_WARNING_INTERVAL_S
        # (index, its version, the new items found in it): the flag scan reads every row, so once per index change
        self._new_cache: tuple[weakref.ref[ItemIndex], int, NewItems | None] | None = None
        self._batcher: MicroBatcher[Pending, Answer] = MicroBatcher(
            self._process, settings.batch_window_ms / 1000.0, settings.max_batch_size
        )

    @property
    def stages(self) -> dict[str, Histogram]:
        """The per-stage latency histogram's children (``kairos_ranker_recommend_stage_seconds``), by stage."""
        return self._metrics.stages

    async def recommend(self, query: RecommendQuery, deadline: float | None) -> Answer:
        return await self._batcher.submit(Pending(query, deadline))

    async def close(self) -> None:
        await self._batcher.close()

    async def _fetch(self, batch: Sequence[Pending]) -> list[list[Event]] | None:
        """Stored histories of the batch's users (one call), or None when user state failed or no time is left."""
        now = time.monotonic()
        reserve = self.s.compute_reserve_ms / 1000.0
        # The smallest budget of the batch bounds the call, so no caller waits past its deadline; callers whose
        # deadline has already passed are being cancelled and do not shrink everyone else's budget.
        budgets = [p.deadline - now - reserve for p in batch if p.deadline is not None and p.deadline > now]
        timeout = min([self.s.user_state.timeout_s, *budgets])
        if timeout <= 0.001:
            return None
        users = list(dict.fromkeys(p.query.user_id for p in batch))
        try:
            sequences = await self._user_state.get_sequences(users, limit=self.s.history_fetch_limit, timeout_s=timeout)
        except (grpc.aio.AioRpcError, TimeoutError, OSError) as exc:
            self._failed_fetches += 1
            if time.monotonic() - self._last_warning >= FETCH_WARNING_INTERVAL_S:
                self._last_warning = time.monotonic()
                code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else type(exc).__name__
                log.warning(
                    "user state unavailable; using inline events",
                    extra={"code": code, "failed_batches": self._failed_fetches},
                )
                self._failed_fetches = 0
            return None
        by_user = dict(zip(users, sequences, strict=True))
        return [by_user[p.query.user_id] for p in batch]

    async def _process(self, batch: Sequence[Pending]) -> list[Answer]:
        self._metrics.batch_size.observe(len(batch))
        started = time.perf_counter()
        stage = self._metrics.stages
        for p in batch:
            stage["batch_wait"].observe(started - p.submitted)
        stored = await self._fetch(batch)
        fetched = time.perf_counter()
        stage["user_state"].observe(fetched - started)
        degraded = stored is None
        events = [
            merge_events([] if stored is None else stored[i], p.query.recent_events, p.query.request_time_ms)
            for i, p in enumerate(batch)
        ]
        answers = await self._worker.run(self._rank, self._state(), list(batch), events, degraded, fetched)
        for reason in (d for a in answers for d in a.degradations):
            self._metrics.degradations.labels(Degradation.Name(reason)).inc()
        return answers

    def _rank(
        self,
        state: ServingState,
        batch: list[Pending],
        events: list[list[Event]],
        user_state_down: bool,
        dispatched: float,
    ) -> list[Answer]:
        """Runs on the compute worker: histories → one forward pass → one scoring pass → answers."""
        stage = self._metrics.stages
        begun = time.perf_counter()
        stage["compute_wait"].observe(begun - dispatched)
        # History positions use the items' cached vectors (the index), so no position is re-projected.
        row_of, vectors = state.index.row_of, state.index.vectors
        max_len = state.model.max_len
        histories = [usable_history(e, row_of, max_len) for e in events]
        for e in events:
            self._popularity.observe(e)
        personal = [i for i, h in enumerate(histories) if h.rows]
        answers: list[Answer | None] = [None] * len(batch)
        if personal:
            hist = assemble(
                [histories[i] for i in personal],
                [batch[i].query.request_time_ms for i in personal],
                [batch[i].query.target_domain for i in personal],
                vectors,
            )
            users, bias = user_vectors(state.model, hist)
            encoded = time.perf_counter()
            stage["history_model"].observe(encoded - begun)
            hits, misses = state.model.take_history_cache_counts()
            self._metrics.history_cache.labels("hit").inc(hits)
            self._metrics.history_cache.labels("miss").inc(misses)
            queries = [self._search_query(j, batch[i].query, histories[i]) for j, i in enumerate(personal)]
            new = self._new_items(state)
            results = self._search(state, users, bias, queries, [histories[i] for i in personal], hist, new)
            stage["scoring"].observe(time.perf_counter() - encoded)
            for i, result in zip(personal, results, strict=True):
                scored = self._answer(state, batch[i].query, histories[i], user_state_down)
                if new is None:
                    scored.degradations.append(Degradation.DEGRADATION_NEW_ITEM_MATCH_SKIPPED)
                scored.items = list(zip(result.item_ids, result.scores.tolist(), strict=True))
                scored.unknown_candidate_ids = result.unknown_candidate_ids
                answers[i] = scored
        for i, answer in enumerate(answers):
            if answer is None:
                answers[i] = self._fallback(state, batch[i].query, histories[i], user_state_down)
        return [a for a in answers if a is not None]

    def _new_items(self, state: ServingState) -> NewItems | None:
        """The new items scored apart (empty when the model has no closest-item term); None above the limit."""
        boost = state.model.boost
        if boost is None or not boost.exact:
            return NewItems.none()
        index, cached = state.index, self._new_cache  # compute worker only: no lock needed
        if cached is None or cached[0]() is not index or cached[1] != index.version:
            cached = self._new_cache = (
                weakref.ref(index),
                index.version,
                NewItems.flagged(index, boost, self.s.new_item_exact_max),
            )
        return cached[2]

    @staticmethod
    def _search(
        state: ServingState,
        users: np.ndarray,
        bias: np.ndarray | None,
        queries: list[SearchQuery],
        histories: list[UsableHistory],
        batch: HistoryBatch,
        new: NewItems | None,
    ) -> list[SearchResult]:
        """Top-k per query; items whose score has a term outside the dot product (history items with a repeat
        bias ``bias`` (B, L), new items with a closest-item content match) are scored apart and merged in."""
        boost = state.model.boost
        contenders = None
        if boost is not None and boost.exact and new is not None and len(new):
            k = max(q.k for q in queries)
            contenders = NewItemContenders(boost, users, batch, new, state.index.score_columns, k)
        if bias is None and contenders is None:
            return state.index.search(users, queries)
        history = [history_item_bias(h, bias[j]) if bias is not None else {} for j, h in enumerate(histories)]
        searched = [search_without(q, b) for q, b in zip(queries, history, strict=True)]
        if contenders is not None:  # room for the new items the search may return and the merge drops
            searched = [replace(q, k=q.k + min(len(contenders.ids), q.k)) for q in searched]
        results = state.index.search(users, searched)
        out = []
        for j, (result, q, wider, b) in enumerate(zip(results, queries, searched, history, strict=True)):
            eligible = functools.partial(_allowed, state.index, q.filter) if q.filtered else _anything
            apart = b
            if contenders is not None:
                trained = contenders.drop_from(result)
                widest = q.k + len(contenders.ids)  # enough whatever the new items' places
                while len(trained.item_ids) < q.k and len(result.item_ids) == wider.k < widest:  # too many new
                    wider = replace(wider, k=min(2 * wider.k, widest))
                    result = state.index.search(users, [wider])[0]
                    trained = contenders.drop_from(result)
                result = trained
                apart = contenders.scored_apart(j, q, eligible, b)
            out.append(merge_history(result, users[q.user], state.index.vectors, apart, q, eligible))
        return out

    @staticmethod
    def _search_query(user: int, q: RecommendQuery, h: UsableHistory) -> SearchQuery:
        exclude = (h.seen_item_ids if q.exclude_seen else frozenset()) | q.exclude_ids
        return SearchQuery(user=user, k=q.k, exclude_ids=exclude, candidate_ids=q.candidate_ids, filter=q.filter)

    @staticmethod
    def _answer(state: ServingState, q: RecommendQuery, h: UsableHistory, user_state_down: bool) -> Answer:
        flags = []
        if user_state_down:
            flags.append(Degradation.DEGRADATION_USER_STATE_UNAVAILABLE)
        if h.unknown_items:
            flags.append(Degradation.DEGRADATION_UNKNOWN_HISTORY_ITEMS)
        return Answer([], state.model.version, flags, [], len(h.rows), q.request_time_ms)

    def _fallback(self, state: ServingState, q: RecommendQuery, h: UsableHistory, user_state_down: bool) -> Answer:
        answer = self._answer(state, q, h, user_state_down)
        answer.degradations.append(Degradation.DEGRADATION_POPULARITY_FALLBACK)
        index = state.index
        if q.candidate_ids is not None:
            answer.unknown_candidate_ids = [c for c in q.candidate_ids if c not in index]
        exclude = (h.seen_item_ids if q.exclude_seen else frozenset()) | q.exclude_ids
        spec = q.filter

        def eligible(item_id: str) -> bool:
            return index.allows(item_id, spec)

        answer.items = self._popularity.top(
            q.k, eligible, state.catalog.recent_ids, exclude=exclude, candidates=q.candidate_ids
        )
        return answer


def _allowed(index: ItemIndex, spec: ItemFilterSpec | None, item_id: str) -> bool:
    """Whether ``item_id`` passes a query's filter (merge_history's eligibility test)."""
    return index.allows(item_id, spec)


def _anything(_item_id: str) -> bool:
    return True
