"""An in-process KairosServer hosting a small UserState test servicer: the plumbing is what is under test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from kairos.service.errors import InvalidArgument
from kairos.service.server import KairosServer, ServiceRegistration
from kairos.service.settings import ServiceSettings
from kairos.v1 import events_pb2, user_state_pb2, user_state_pb2_grpc

SERVICE = "kairos.v1.UserState"


class PlumbingProbeServicer(user_state_pb2_grpc.UserStateServicer):
    """GetSequence sleeps `filter.limit` ms then echoes the user; AppendEvents validates; DeleteUser crashes."""

    def __init__(self) -> None:
        self.completed = 0

    async def GetSequence(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await asyncio.sleep(request.filter.limit / 1000)
        self.completed += 1
        return user_state_pb2.GetSequenceResponse(sequence=events_pb2.Sequence(user_id=request.user_id))

    async def AppendEvents(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if not request.events:
            raise InvalidArgument("events", "at least one event is required")
        return user_state_pb2.AppendEventsResponse(appended=len(request.events))

    async def DeleteUser(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        raise RuntimeError("secret internal detail")


ServerFactory = Callable[..., Any]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """Factory: start a KairosServer with settings overrides; every server is stopped after the test."""
    started: list[KairosServer] = []

    async def factory(serving_on_start: bool = True, **overrides: Any) -> tuple[KairosServer, PlumbingProbeServicer]:
        settings = ServiceSettings.load(**{"port": 0, "metrics_port": 0, "grace_period_s": 2.0, **overrides})
        servicer = PlumbingProbeServicer()
        server = KairosServer(
            settings,
            [ServiceRegistration(SERVICE, lambda s: user_state_pb2_grpc.add_UserStateServicer_to_server(servicer, s))],
            serving_on_start=serving_on_start,
        )
        await server.start()
        started.append(server)
        return server, servicer

    yield factory
    for server in started:
        await server.stop(grace_s=0)


def write_tokens(path: Path, *tokens: str) -> Path:
    path.write_text("# accepted tokens\n" + "\n".join(tokens) + "\n")
    return path
