"""Fixtures of the client tests: real user-state and ranker processes (shared with tests/ranker_service), and a
small scripted UserState server for deadlines, retries and metadata."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.scripted import ScriptedUserState, serve_scripted
from tests.ranker_service import conftest as ranker_fixtures
from tests.ranker_service.conftest import launch_ranker
from tests.support.ports import free_port

# Session fixtures of the ranker tests: the tiny trained artifact (cached in build/) and a user-state server.
artifact = ranker_fixtures.artifact
user_state_address = ranker_fixtures.user_state_address


@pytest.fixture(scope="module")
def ranker(tmp_path_factory: pytest.TempPathFactory, artifact: Path, user_state_address: str) -> Iterator[str]:
    """A real ranker (in-process encoders) reading the session's user-state server; yields its address."""
    process = launch_ranker(tmp_path_factory.mktemp("client-ranker"), artifact, user_state_address)
    yield process.address
    process.stop()


@pytest.fixture(scope="module")
def ranker_without_user_state(tmp_path_factory: pytest.TempPathFactory, artifact: Path) -> Iterator[str]:
    """A real ranker whose user-state address has nothing listening; yields its address."""
    workdir = tmp_path_factory.mktemp("client-ranker-alone")
    process = launch_ranker(workdir, artifact, f"127.0.0.1:{free_port()}", name="alone")
    yield process.address
    process.stop()


@pytest.fixture
def scripted() -> Iterator[ScriptedUserState]:
    """A UserState server whose behaviour each test scripts (delay, failures), recording what it received."""
    service = ScriptedUserState()
    server, port = serve_scripted(service)
    service.address = f"127.0.0.1:{port}"
    yield service
    server.stop(grace=None)
