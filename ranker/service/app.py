"""Wiring: artifact → catalogue → index → pipelines → gRPC server (health, reflection, metrics, reload)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from encoders.client import EncoderClient, create_encoder_client
from kairos.service.errors import Unavailable
from kairos.service.gc_pauses import refreeze_heap
from kairos.service.server import KairosServer, ServiceRegistration
from kairos.v1 import ranker_pb2_grpc
from ranker.catalog.feature_table import FeatureTable
from ranker.catalog.item_catalog import ItemCatalog
from ranker.catalog.redis_feed import RedisItemFeed
from ranker.catalog.sqlite_store import SqliteItemStore
from ranker.service.compute import ComputeWorker
from ranker.service.items import ItemService
from ranker.service.metrics import RankerMetrics
from ranker.service.model import load_model
from ranker.service.popularity import PopularityRanker
from ranker.service.readiness import warm_up_encoders
from ranker.service.recommend import RecommendPipeline
from ranker.service.reload import ModelReloader, StateHolder
from ranker.service.servicer import RankerServicer
from ranker.service.settings import RankerSettings
from ranker.service.similar import SimilarItemsService
from ranker.service.state import ServingState, build_state
from ranker.service.validation import RequestValidator
from user_state.client import UserStateClient

log = logging.getLogger(__name__)
SERVICE = "kairos.v1.Ranker"


@dataclass
class RankerApp:
    """A running ranker: the server plus every component, for tests and benchmarks to inspect."""

    server: KairosServer
    holder: StateHolder
    worker: ComputeWorker
    recommender: RecommendPipeline
    items: ItemService
    reloader: ModelReloader
    feed: RedisItemFeed | None
    encoders: EncoderClient
    user_state: UserStateClient
    metrics: RankerMetrics

    @property
    def state(self) -> ServingState:
        return self.holder.state

    async def close(self) -> None:
        """Stop background work and release clients (called after the server drained)."""
        await self.reloader.close()
        await self.recommender.close()
        if self.feed is not None:
            await self.feed.close()
        await self.encoders.close()
        await self.user_state.close()
        self.worker.close()
        self.holder.state.catalog.store.close()


def _publish_state(metrics: RankerMetrics, state: ServingState) -> None:
    metrics.model_info.info({"version": state.model.version, "new_item_boost": f"{state.model.new_item_boost:.2f}"})
    metrics.index_size.set(len(state.index))
    metrics.index_ann.set(1 if state.index.uses_ann else 0)
    metrics.newest_item_ms.set(state.catalog.features.newest_updated_ms())


def _after_swap(metrics: RankerMetrics, state: ServingState, gc_freeze: bool) -> None:
    """A new model version serves: publish it, and let the collector reclaim the replaced one (one pause)."""
    _publish_state(metrics, state)
    if gc_freeze:
        refreeze_heap()


async def build_app(settings: RankerSettings) -> RankerApp:
    """Load the artifact and catalogue, catch up with the item stream, and assemble the (not yet started) server."""
    worker = ComputeWorker(settings.compute_threads, settings.blas_threads)
    model = await asyncio.to_thread(load_model, settings.artifact, settings.history_cache_size)
    store = SqliteItemStore(settings.data_dir / "items.sqlite")
    catalog = ItemCatalog.open(FeatureTable.from_items(model.catalogue()), store)
    state = await worker.run(build_state, model, catalog, settings.index_config())
    holder = StateHolder(state)

    registry = CollectorRegistry()
    metrics = RankerMetrics(registry)
    metrics.watch_index_scoring(lambda: holder.state.index.exact_scoring)
    _publish_state(metrics, state)

    encoders = create_encoder_client(settings.encoders)
    feed = None
    if settings.redis_url is not None:
        feed = RedisItemFeed(settings.redis_url, settings.redis_stream, settings.replica_id)
    items = ItemService(settings, holder, encoders, worker, metrics, feed)
    if feed is not None:
        try:
            cursor = await feed.replay(store.cursor() or "0-0", items.apply_entry)
        except (RedisError, OSError) as exc:
            raise Unavailable(f"redis_url: cannot replay the item stream {settings.redis_stream}: {exc}") from exc
        feed.start_tailing(cursor, items.apply_entry)

    user_state = UserStateClient(
        settings.user_state_channel(),
        default_timeout_s=settings.user_state.timeout_s,
        sequence_cache_size=settings.user_state.sequence_cache_size,
    )
    popularity = PopularityRanker(settings.popularity_half_life_s)
    popularity.seed(model.popularity())
    recommender = RecommendPipeline(settings, holder, user_state, worker, popularity, metrics)
    similar = SimilarItemsService(settings, holder, items, worker, user_state)
    servicer = RankerServicer(RequestValidator(settings), holder, recommender, items, similar)
    reloader = ModelReloader(
        settings.artifact,
        holder,
        worker,
        settings.index_config(),
        metrics,
        settings.artifact_poll_s,
        on_swap=lambda s: _after_swap(metrics, s, settings.gc_freeze),
        history_cache_size=settings.history_cache_size,
    )
    closers: list[RankerApp] = []
    server = KairosServer(
        settings,
        [ServiceRegistration(SERVICE, lambda srv: ranker_pb2_grpc.add_RankerServicer_to_server(servicer, srv))],
        registry=registry,
        on_stop=lambda: closers[0].close(),
        serving_on_start=False,  # become_ready reports SERVING once the encoders are warm
    )
    app = RankerApp(server, holder, worker, recommender, items, reloader, feed, encoders, user_state, metrics)
    closers.append(app)
    return app


async def become_ready(app: RankerApp, settings: RankerSettings) -> None:
    """Report SERVING once the encoders are warm (model and index are loaded by build_app already).

    Until then health is NOT_SERVING, yet Recommend is answered (it needs no encoder); UpsertItems works too
    but may wait for a cold encoder.
    """
    if settings.encoder_warm_up:
        await warm_up_encoders(app.encoders, settings.encoder_warm_up_timeout_s, settings.encoder_warm_up_retry_s)
    await app.server.mark_serving()


async def serve(settings: RankerSettings) -> None:
    """Build, start and serve until SIGTERM/SIGINT (graceful drain), hot-reloading on SIGHUP/artifact change.

    Health stays NOT_SERVING until the encoders are warm (see :func:`become_ready`).
    """
    app = await build_app(settings)
    app.reloader.start()
    ready = asyncio.create_task(become_ready(app, settings))
    await app.server.serve_until_signalled()
    ready.cancel()
