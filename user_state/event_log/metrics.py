"""Prometheus metrics of the event log (registered in the server's registry, or a private one in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class EventLogMetrics:
    """Events, deletions and bytes appended, append latency, failures, and the segments on disk."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.appended = Counter(
            "kairos_user_state_event_log_appended", "Events appended to the event log", ("backend",), registry=registry
        )
        self.deletions = Counter(
            "kairos_user_state_event_log_deletions",
            "User deletions (DeleteUser) appended to the event log",
            ("backend",),
            registry=registry,
        )
        self.appended_bytes = Counter(
            "kairos_user_state_event_log_appended_bytes",
            "Bytes appended to the active segment",
            ("backend",),
            registry=registry,
        )
        self.append_seconds = Histogram(
            "kairos_user_state_event_log_append_seconds",
            "One log write (a write group), including its fsync",
            ("backend",),
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.failures = Counter(
            "kairos_user_state_event_log_failures",
            "Log writes that failed (their AppendEvents calls failed UNAVAILABLE)",
            ("backend",),
            registry=registry,
        )
        self.segments = Gauge(
            "kairos_user_state_event_log_segments", "Segment files on disk, the active one included", registry=registry
        )
        self.bytes = Gauge("kairos_user_state_event_log_bytes", "Bytes of all segment files", registry=registry)
        self.sealed = Counter(
            "kairos_user_state_event_log_segments_sealed", "Segments sealed (rotated into Parquet)", registry=registry
        )
        self.deleted = Counter(
            "kairos_user_state_event_log_segments_deleted", "Segments deleted by retention", registry=registry
        )
