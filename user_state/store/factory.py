"""Build the store named by the settings."""

from __future__ import annotations

from user_state.event_log.factory import embedded_sink, stream_target
from user_state.event_log.metrics import EventLogMetrics
from user_state.metrics import StoreMetrics
from user_state.settings import UserStateSettings
from user_state.store.base import EventStore


def create_store(
    settings: UserStateSettings,
    metrics: StoreMetrics | None = None,
    event_log_metrics: EventLogMetrics | None = None,
) -> EventStore:
    """The embedded or Redis store, not yet started, writing the event log the settings name."""
    if settings.store == "embedded":
        from user_state.store.embedded import EmbeddedStore

        return EmbeddedStore(settings, metrics, event_log=embedded_sink(settings, event_log_metrics))
    from user_state.store.redis_store import RedisStore

    return RedisStore(settings, metrics, event_log=stream_target(settings, event_log_metrics))
