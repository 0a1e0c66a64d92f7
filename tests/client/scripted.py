"""A real gRPC UserState server with scripted behaviour: answers after `delay_s`, fails the first `fail_first`
attempts with UNAVAILABLE, and records each attempt's metadata. Used where the services cannot be made to
misbehave on cue (deadlines, retries)."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc

from kairos.v1 import events_pb2, user_state_pb2, user_state_pb2_grpc


class ScriptedUserState(user_state_pb2_grpc.UserStateServicer):
    """GetSequence answers one event per call; AppendEvents echoes the count."""

    def __init__(self) -> None:
        self.address = ""
        self.delay_s = 0.0
        self.fail_first = 0
        self.attempts = 0
        self.metadata: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def _attempt(self, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.attempts += 1
            n = self.attempts
            self.metadata.append({m.key: m.value for m in context.invocation_metadata()})
        if n <= self.fail_first:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"scripted failure of attempt {n}")
        time.sleep(self.delay_s)

    def GetSequence(self, request, context):
        self._attempt(context)
        event = events_pb2.Event(event_id="e1", user_id=request.user_id, item_id="i1", timestamp_ms=1)
        return user_state_pb2.GetSequenceResponse(sequence=events_pb2.Sequence(user_id=request.user_id, events=[event]))

    def AppendEvents(self, request, context):
        self._attempt(context)
        return user_state_pb2.AppendEventsResponse(appended=len(request.events))


def serve_scripted(service: ScriptedUserState) -> tuple[grpc.Server, int]:
    """Start `service` on a random loopback port (threads, so blocking and asyncio clients both work)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    user_state_pb2_grpc.add_UserStateServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port
