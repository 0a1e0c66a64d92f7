"""Build the store named by the settings."""

from __future__ import annotations

from user_state.metrics import StoreMetrics
from user_state.settings import UserStateSettings
from user_state.store.base import EventStore


def create_store(settings: UserStateSettings, metrics: StoreMetrics | None = None) -> EventStore:
    """The embedded or Redis store, not yet started."""
    if settings.store == "embedded":
        from user_state.store.embedded import EmbeddedStore

        return EmbeddedStore(settings, metrics)
    from user_state.store.redis_store import RedisStore

    return RedisStore(settings, metrics)
