"""Ranker-specific Prometheus metrics (index size, freshness, batch sizes, model version)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import InfoMetricFamily, Metric
from prometheus_client.registry import Collector

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
FRESHNESS_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGE_BUCKETS_S = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.5)
# Where a Recommend's time goes. Per request: validate, batch_wait (submitted -> its batch starts), compute_wait
# (batch fetched -> the compute worker starts it), response (answer -> protobuf). Per batch: user_state (the one
# GetSequences), history_model (user vectors), scoring (index search and repeat merge).
RECOMMEND_STAGES = ("validate", "batch_wait", "user_state", "compute_wait", "history_model", "scoring", "response")


class IndexScoring(Collector):
    """``kairos_ranker_index_scoring_info{kind=...}``: how the serving index scores whole-catalogue queries now
    ('ann', 'float32', or 'int8'/'bfloat16': first pass + float32), read at scrape time (calibration at build,
    reloads and ANN training on upserts all change it)."""

    def __init__(self, kind: Callable[[], str]) -> None:
        self._kind = kind

    def collect(self) -> Iterator[Metric]:
        family = InfoMetricFamily("kairos_ranker_index_scoring", "How the serving index scores whole-catalogue queries")
        family.add_metric([], {"kind": self._kind()})
        yield family


class RankerMetrics:
    """Registered in the server's registry, next to the per-RPC metrics of kairos.service."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self.stage = Histogram(
            "kairos_ranker_recommend_stage_seconds",
            "Time of each Recommend stage (per request or per micro-batch, see ranker/service/metrics.py)",
            ("stage",),
            registry=registry,
            buckets=STAGE_BUCKETS_S,
        )
        # bound once (exported from the start, at zero): the hot path observes without a label lookup
        self.stages = {stage: self.stage.labels(stage) for stage in RECOMMEND_STAGES}
        self.batch_size = Histogram(
            "kairos_ranker_batch_size", "Recommend requests per micro-batch", registry=registry, buckets=BATCH_BUCKETS
        )
        self.index_size = Gauge("kairos_ranker_index_items", "Items in the serving index", registry=registry)
        self.index_ann = Gauge("kairos_ranker_index_ann", "1 when the index uses ANN + re-scoring", registry=registry)
        self.newest_item_ms = Gauge(
            "kairos_ranker_newest_item_timestamp_ms", "Upsert time of the newest indexed item", registry=registry
        )
        self.newest_item_age = Gauge(
            "kairos_ranker_newest_item_age_seconds", "Age of the newest indexed item", registry=registry
        )
        self.newest_item_age.set_function(self._newest_age)
        self.upsert_to_visible = Histogram(
            "kairos_ranker_upsert_to_visible_seconds",
            "From an upsert's arrival (or stream entry time) to the item being recommendable here",
            ("source",),
            registry=registry,
            buckets=FRESHNESS_BUCKETS_S,
        )
        self.degradations = Counter(
            "kairos_ranker_degradations_total", "Degraded Recommend answers", ("reason",), registry=registry
        )
        self.items_changed = Counter(
            "kairos_ranker_items_changed_total", "Item upserts and deletes applied", ("op", "source"), registry=registry
        )
        self.upsert_item_errors = Counter(
            "kairos_ranker_upsert_item_errors_total", "Items rejected by UpsertItems", registry=registry
        )
        self.history_cache = Counter(
            "kairos_ranker_history_cache_total",
            "User vectors whose history state came from the cache (hit) or a forward pass (miss)",
            ("result",),
            registry=registry,
        )
        self.model_info = Info("kairos_ranker_model", "The serving model artifact", registry=registry)
        self.reloads = Counter("kairos_ranker_model_reloads_total", "Model reloads", ("result",), registry=registry)

    def watch_index_scoring(self, kind: Callable[[], str]) -> None:
        """Export :class:`IndexScoring` with ``kind`` giving the serving index's ``exact_scoring``."""
        self._registry.register(IndexScoring(kind))

    def _newest_age(self) -> float:
        newest = self.newest_item_ms._value.get()
        return 0.0 if newest <= 0 else max(0.0, time.time() - newest / 1000.0)
