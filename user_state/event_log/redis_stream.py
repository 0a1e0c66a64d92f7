"""The scale-out event log: one Redis stream per deployment, and the compactor that turns it into segment files.

Every user-state replica XADDs each newly accepted event as one stream entry `{e: <serialized kairos.v1.Event>}`
and each applied DeleteUser as `{d: <user_id>}` (the entry id's milliseconds are the deletion time). With the
Redis store the XADD happens inside the same Lua script that stores the event or deletes the user (so the store
and the log cannot disagree, whatever crashes); with the embedded store the writer thread XADDs before its commit.
Retention: every XADD carries `MINID ~ <now - retention_days>` (whole old stream nodes are dropped).

The compactor (compactor.py, `python -m user_state.event_log compact`) turns the stream into segment files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import redis
from redis import exceptions as redis_errors

from kairos.service.errors import Unavailable
from user_state.event_log.metrics import EventLogMetrics
from user_state.event_log.settings import EventLogSettings
from user_state.events import Event, UserDeletion

log = logging.getLogger(__name__)

BACKEND = "redis_stream"
FIELD = b"e"
DELETED_FIELD = b"d"


class StreamTarget:
    """What the Redis store needs to XADD inside its append script: the key and the retention bound."""

    name = BACKEND

    def __init__(self, settings: EventLogSettings, metrics: EventLogMetrics | None = None) -> None:
        self.key = settings.redis_stream
        self.retention_ms = int(settings.retention_days * 86_400_000) if settings.retention_days else None
        self.metrics = metrics or EventLogMetrics()

    def minid(self) -> str:
        """`MINID` argument for XADD: entries older than the retention are trimmed; '' = keep everything."""
        if self.retention_ms is None:
            return ""
        return f"{max(0, int(time.time() * 1000) - self.retention_ms)}-0"

    def xadd_args(self, entry: Event | UserDeletion) -> list[bytes | str]:
        """XADD of one event (`e`: its serialized Event) or deletion (`d`: the user id)."""
        minid = self.minid()
        trim: list[bytes | str] = ["MINID", "~", minid] if minid else []
        if isinstance(entry, UserDeletion):
            return ["XADD", self.key, *trim, "*", DELETED_FIELD, entry.user_id]
        return ["XADD", self.key, *trim, "*", FIELD, entry.wire]


class RedisStreamSink:
    """Event-log writer for the embedded store's writer thread: one pipelined XADD per event, synchronous."""

    name = BACKEND

    def __init__(
        self, url: str, settings: EventLogSettings, metrics: EventLogMetrics | None = None, timeout_s: float = 1.0
    ) -> None:
        self.target = StreamTarget(settings, metrics)
        self.metrics = self.target.metrics
        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    def open(self, conn: object = None) -> None:
        try:
            self.client.ping()
        except (redis_errors.RedisError, OSError) as exc:
            raise Unavailable(f"event log: redis unreachable: {exc}") from exc
        log.info("event log open", extra={"backend": BACKEND, "stream": self.target.key})

    def write(self, conn: object, entries: Sequence[Event | UserDeletion]) -> None:
        """XADD `entries` (events and deletions, in order; one pipeline) before the caller commits; raises on
        failure."""
        if not entries:
            return
        start = time.perf_counter()
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for entry in entries:
                    pipe.execute_command(*self.target.xadd_args(entry))
                pipe.execute()
        except (redis_errors.RedisError, OSError):
            self.metrics.failures.labels(BACKEND).inc()
            raise
        deleted = sum(isinstance(entry, UserDeletion) for entry in entries)
        self.metrics.appended.labels(BACKEND).inc(len(entries) - deleted)
        self.metrics.deletions.labels(BACKEND).inc(deleted)
        self.metrics.append_seconds.labels(BACKEND).observe(time.perf_counter() - start)

    def close(self) -> None:
        self.client.close()
