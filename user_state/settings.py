"""Typed settings of the user-state service (env prefix KAIROS_USER_STATE_, optional YAML file, CLI flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from kairos.service.settings import ServiceSettings
from user_state.event_log.settings import EventLogSettings

MS_PER_DAY = 86_400_000
# 1990-01-01T00:00:00Z in milliseconds: anything earlier is almost surely seconds sent as milliseconds.
MIN_TIMESTAMP_MS = 631_152_000_000


class UserStateSettings(ServiceSettings):
    """Everything `python -m user_state serve` can be told. Every field is also KAIROS_USER_STATE_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="KAIROS_USER_STATE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        env_ignore_empty=True,
    )

    store: Literal["embedded", "redis"] = Field("embedded", description="Backing store.")
    data_dir: Path = Field(
        Path("var/user_state"),
        description="Embedded store: directory of the SQLite database (relative paths resolve against the CWD).",
    )
    sync: Literal["full", "normal", "off"] = Field(
        "full",
        description="Embedded store: SQLite `synchronous` level. full: fsync before every acknowledgement; "
        "normal: no fsync per commit (survives kill -9, may lose the latest commits on power loss); "
        "off: no fsync at all (survives kill -9; power loss may corrupt the database).",
    )
    max_events_per_user: int = Field(200, ge=1, le=100_000, description="Per-user cap; the oldest are dropped.")
    ttl_s: float | None = Field(
        None, gt=0, description="Forget a user this many seconds after their last append; null keeps forever."
    )
    ttl_sweep_interval_s: float = Field(
        60.0, gt=0, description="Embedded store: how often expired users are deleted from disk."
    )
    max_batch: int = Field(1000, ge=1, le=100_000, description="Most events one AppendEvents call may carry.")
    max_users_per_call: int = Field(1024, ge=1, le=100_000, description="Most user ids one GetSequences may ask.")
    max_id_bytes: int = Field(256, ge=1, le=4096, description="Longest user/item/event id, in UTF-8 bytes.")
    max_label_bytes: int = Field(64, ge=1, le=1024, description="Longest domain / event_type, in UTF-8 bytes.")
    min_timestamp_ms: int = Field(
        MIN_TIMESTAMP_MS, gt=0, description="Earliest accepted timestamp (default 1990-01-01, in milliseconds)."
    )
    max_future_ms: int = Field(
        MS_PER_DAY, ge=0, description="How far past the server's clock a timestamp may lie, in milliseconds."
    )
    hot_cache_users: int = Field(
        10_000,
        ge=0,
        description="Embedded store: users whose sequences stay in memory (LRU); 0 disables. Budget about "
        "0.4 KB per cached event (10,000 users at the 200-event cap is about 0.8 GB).",
    )
    write_batch_max_events: int = Field(
        10_000, ge=1, description="Embedded store: most events the writer commits in one transaction."
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis store: server URL (redis://, rediss:// for TLS, or unix://)."
    )
    redis_pool_size: int = Field(32, ge=1, description="Redis store: most pooled connections.")
    redis_socket_timeout_s: float = Field(
        1.0, gt=0, description="Redis store: connect/read timeout; beyond it calls fail UNAVAILABLE."
    )
    redis_key_prefix: str = Field("kairos", min_length=1, description="Redis store: first part of every key.")
    event_log: EventLogSettings = Field(
        default_factory=EventLogSettings,
        description="The event log every newly accepted event is appended to (user_state/README.md).",
    )

    @model_validator(mode="after")
    def _redis_url_scheme(self) -> Self:
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must start with redis://, rediss:// or unix://")
        return self

    @model_validator(mode="after")
    def _event_log_fits_store(self) -> Self:
        log = self.event_log
        if log.backend == "segments" and self.store == "redis":
            raise ValueError(
                "event_log.backend: segments needs store embedded (the log is written in the same commit); "
                "use redis_stream with the Redis store"
            )
        if log.redis_url is not None and not log.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("event_log.redis_url must start with redis://, rediss:// or unix://")
        if (
            self.store == "redis"
            and log.resolved_backend("redis") == "redis_stream"
            and log.redis_url not in (None, self.redis_url)
        ):
            raise ValueError(
                "event_log.redis_url must be the store's redis_url with store redis (the log entry is written "
                "by the store's own atomic script); leave it unset"
            )
        return self
