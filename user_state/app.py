"""Assemble the user-state server: settings -> store -> servicer -> KairosServer."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from kairos.service.server import KairosServer
from user_state.event_log.metrics import EventLogMetrics
from user_state.metrics import StoreMetrics
from user_state.servicer import UserStateServicer, registration
from user_state.settings import UserStateSettings
from user_state.store.base import EventStore
from user_state.store.factory import create_store
from user_state.validation import Validator


async def build_server(settings: UserStateSettings) -> tuple[KairosServer, EventStore]:
    """Open the store and return a ready-to-start server that closes the store when it stops."""
    registry = CollectorRegistry()
    store = create_store(settings, StoreMetrics(registry), EventLogMetrics(registry))
    await store.start()
    servicer = UserStateServicer(store, Validator(settings))
    server = KairosServer(settings, [registration(servicer)], registry=registry, on_stop=store.close)
    return server, store
