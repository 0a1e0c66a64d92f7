"""Typed settings of the event log: the `event_log:` section of the user-state settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024


class EventLogSettings(BaseModel):
    """Where every newly accepted event is also appended, for training to read in order.

    YAML: `event_log: {backend: segments, retention_days: 30}`; environment:
    `KAIROS_USER_STATE_EVENT_LOG__BACKEND=none`; CLI: `--event-log-backend none`.
    """

    model_config = ConfigDict(extra="forbid")

    backend: Literal["auto", "none", "segments", "redis_stream"] = Field(
        "auto",
        description="auto: segments with the embedded store, redis_stream with the Redis store; none: no log; "
        "segments: committed with the store's own transactions (as durable as `sync`), sealed into Parquet "
        "segment files in `dir`; redis_stream: XADD to the Redis stream `redis_stream`.",
    )
    dir: Path | None = Field(
        None, description="segments: directory of the segment files; default <data_dir>/event-log."
    )
    segment_max_bytes: int = Field(
        64 * MIB, ge=4096, description="segments: the active segment is sealed once it reaches about this size."
    )
    segment_max_age_s: float = Field(
        3600.0, gt=0, description="segments: the active segment is sealed at the first write after this age."
    )
    retention_days: float | None = Field(
        7.0,
        gt=0,
        description="Sealed segments (or stream entries) older than this are deleted; null keeps forever.",
    )
    retention_max_bytes: int | None = Field(
        None, ge=1, description="segments: oldest sealed segments are deleted while they total more."
    )
    redis_url: str | None = Field(
        None,
        description="redis_stream: server URL; default the store's redis_url (with the Redis store it must be "
        "that server: the log entry is written by the same atomic script as the store).",
    )
    redis_stream: str = Field("kairos:event-log", min_length=1, description="redis_stream: the stream key.")

    def resolved_backend(self, store: str) -> str:
        """The backend in effect for `store` (auto resolved)."""
        if self.backend == "auto":
            return "segments" if store == "embedded" else "redis_stream"
        return self.backend
