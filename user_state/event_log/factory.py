"""The event log named by the user-state settings, in the form each store takes it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from user_state.event_log.metrics import EventLogMetrics

if TYPE_CHECKING:
    from user_state.event_log import LogSink
    from user_state.event_log.redis_stream import StreamTarget
    from user_state.settings import UserStateSettings

SEGMENTS_SUBDIR = "event-log"


def segments_dir(settings: UserStateSettings) -> Path:
    """Where the segments backend keeps its files."""
    return settings.event_log.dir or Path(settings.data_dir) / SEGMENTS_SUBDIR


def embedded_sink(settings: UserStateSettings, metrics: EventLogMetrics | None = None) -> LogSink | None:
    """The log the embedded store writes before each commit (None: no log)."""
    backend = settings.event_log.resolved_backend("embedded")
    if backend == "segments":
        from user_state.event_log.segments import SegmentLog

        db_path = Path(settings.data_dir) / "events.sqlite3"  # the embedded store's database (store.embedded.DB_FILE)
        return SegmentLog(segments_dir(settings), db_path, settings.event_log, metrics)
    if backend == "redis_stream":
        from user_state.event_log.redis_stream import RedisStreamSink

        url = settings.event_log.redis_url or settings.redis_url
        return RedisStreamSink(url, settings.event_log, metrics, timeout_s=settings.redis_socket_timeout_s)
    return None


def stream_target(settings: UserStateSettings, metrics: EventLogMetrics | None = None) -> StreamTarget | None:
    """The stream the Redis store XADDs to inside its append script (None: no log)."""
    if settings.event_log.resolved_backend("redis") != "redis_stream":
        return None
    from user_state.event_log.redis_stream import StreamTarget

    return StreamTarget(settings.event_log, metrics)
