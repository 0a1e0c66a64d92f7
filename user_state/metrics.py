"""User-state specific Prometheus metrics (the shared RPC metrics come from kairos.service.metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class StoreMetrics:
    """Counters a store updates; registered in the server's registry (or a private one in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.appended = Counter(
            "kairos_user_state_events_appended", "Events newly stored", ("store",), registry=registry
        )
        self.duplicates = Counter(
            "kairos_user_state_events_duplicate", "Appended events skipped as retries", ("store",), registry=registry
        )
        self.cache_hits = Counter(
            "kairos_user_state_cache_hits", "Sequence reads served from the hot cache", registry=registry
        )
        self.cache_misses = Counter(
            "kairos_user_state_cache_misses", "Sequence reads that went to disk", registry=registry
        )
        self.write_transactions = Counter(
            "kairos_user_state_write_transactions", "Embedded store: transactions committed", registry=registry
        )
