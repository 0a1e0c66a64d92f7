"""A real gRPC load target for testing the load harness: kairos.v1.UserState and kairos.v1.Ranker servers
that validate and count what they receive. It stands in for the suite only because the thing under test is
the load harness (request mix, payloads, statistics, SLO checks), not the services."""

from __future__ import annotations

import io
import threading
from collections import Counter
from concurrent import futures

import grpc
from PIL import Image

from kairos.v1 import ranker_pb2, ranker_pb2_grpc, user_state_pb2, user_state_pb2_grpc


class CallLog:
    """Thread-safe counts of calls received and calls answered with an error, per RPC."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.bad_payloads: list[str] = []

    def next(self, rpc: str) -> int:
        with self._lock:
            self.received[rpc] += 1
            return self.received[rpc]

    def fail(self, rpc: str) -> None:
        with self._lock:
            self.failed[rpc] += 1

    def bad(self, why: str) -> None:
        with self._lock:
            self.bad_payloads.append(why)


class UserStateTarget(user_state_pb2_grpc.UserStateServicer):
    """Accepts AppendEvents, except every `fail_every`-th call, answered RESOURCE_EXHAUSTED."""

    def __init__(self, log: CallLog, fail_every: int) -> None:
        self.log = log
        self.fail_every = fail_every

    def AppendEvents(self, request, context):
        n = self.log.next("AppendEvents")
        if not request.events or any(not (e.event_id and e.user_id and e.item_id) for e in request.events):
            self.log.bad("AppendEvents: event without ids")
        if any(e.timestamp_ms <= 0 for e in request.events):
            self.log.bad("AppendEvents: non-positive timestamp")
        if self.fail_every and n % self.fail_every == 0:
            self.log.fail("AppendEvents")
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "test target sheds every Nth call")
        return user_state_pb2.AppendEventsResponse(appended=len(request.events))


class RankerTarget(ranker_pb2_grpc.RankerServicer):
    """Answers Recommend with k items; checks that upserted items carry text fields and a decodable PNG."""

    def __init__(self, log: CallLog) -> None:
        self.log = log

    def Recommend(self, request, context):
        self.log.next("Recommend")
        if not request.user_id or request.k <= 0:
            self.log.bad("Recommend: no user_id or k")
        items = [ranker_pb2.ScoredItem(item_id=str(i), score=1.0 / (i + 1)) for i in range(request.k)]
        return ranker_pb2.RecommendResponse(items=items, model_version="test")

    def UpsertItems(self, request, context):
        self.log.next("UpsertItems")
        for item in request.items:
            if not item.text_fields.get("title"):
                self.log.bad("UpsertItems: no title")
            try:
                with Image.open(io.BytesIO(item.image)) as image:
                    if image.format != "PNG":
                        self.log.bad(f"UpsertItems: image is {image.format}")
                    image.load()
            except OSError as exc:
                self.log.bad(f"UpsertItems: image does not decode: {exc}")
        results = [ranker_pb2.ItemResult(item_id=i.item_id, ok=True) for i in request.items]
        return ranker_pb2.UpsertItemsResponse(results=results, upserted=len(results))


def start_target(log: CallLog, fail_every: int) -> tuple[grpc.Server, int]:
    """Serve both services on 127.0.0.1 at a free port; return (server, port)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    user_state_pb2_grpc.add_UserStateServicer_to_server(UserStateTarget(log, fail_every), server)
    ranker_pb2_grpc.add_RankerServicer_to_server(RankerTarget(log), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port
