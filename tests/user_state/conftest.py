"""Fixtures: a real redis-server for the session, and started stores of either kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.redis_server import RedisServer
from user_state.settings import UserStateSettings
from user_state.store.base import EventStore
from user_state.store.factory import create_store

# The Redis store talks to a real redis-server, so its cases are integration tests.
STORES = ["embedded", pytest.param("redis", marks=pytest.mark.integration)]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server (random port) for the whole session. Never skipped: the Redis store must be tested."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushdb()
    return redis_server.url


def store_settings(kind: str, tmp_path: Path, redis_url: str | None, **overrides: Any) -> UserStateSettings:
    """Settings for a store under test (small cap so trimming is visible)."""
    values: dict[str, Any] = {
        "store": kind,
        "data_dir": tmp_path / "user_state",
        "max_events_per_user": 5,
        "metrics_port": None,
    }
    if kind == "redis":
        values["redis_url"] = redis_url
    return UserStateSettings(**{**values, **overrides})


MakeStore = Callable[..., Awaitable[EventStore]]


@pytest.fixture(params=STORES)
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    """Factory of started stores of the parametrised kind; all are closed at teardown."""
    kind = request.param
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    opened: list[EventStore] = []

    async def make(**overrides: Any) -> EventStore:
        store = create_store(store_settings(kind, tmp_path, url, **overrides))
        await store.start()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store: MakeStore) -> EventStore:
    """A started store with the default test settings (cap 5)."""
    return await make_store()
