"""Typed settings of the ranker service (env prefix KAIROS_RANKER_, optional YAML file, CLI flags).

The ranker's clients and its index are nested models under the ranker's own prefix: `user_state`
(KAIROS_RANKER_USER_STATE__ADDRESS, YAML `user_state: {address: ...}`), `encoders`
(KAIROS_RANKER_ENCODERS__TRITON_URL) and `index` (KAIROS_RANKER_INDEX__ANN_NPROBE). Unknown keys are errors
at every level.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import SettingsConfigDict

from encoders.client.settings import EncoderClientSettings
from kairos.service.channel import ChannelSettings
from kairos.service.settings import ServiceSettings
from ranker.index.config import IndexConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


ENV_PREFIX = "KAIROS_RANKER_"
ENV_NESTED_DELIMITER = "__"

# Flat environment names of settings that moved into a nested model: setting one is an error naming its new
# name, so a stale deploy file never silently falls back to a default.
RENAMED_ENV = {
    **{
        f"{ENV_PREFIX}USER_STATE_{old}": f"{ENV_PREFIX}USER_STATE__{new}"
        for old, new in (
            ("ADDRESS", "ADDRESS"),
            ("LB_POLICY", "LB_POLICY"),
            ("TLS", "TLS"),
            ("TLS_CA_FILE", "TLS_CA_FILE"),
            ("TLS_CERT_FILE", "TLS_CERT_FILE"),
            ("TLS_KEY_FILE", "TLS_KEY_FILE"),
            ("AUTH_TOKEN_FILE", "AUTH_TOKEN_FILE"),
            ("TIMEOUT_S", "TIMEOUT_S"),
            ("ATTEMPTS", "MAX_ATTEMPTS"),
        )
    },
    f"{ENV_PREFIX}TRITON_URL": f"{ENV_PREFIX}ENCODERS__TRITON_URL",
    f"{ENV_PREFIX}ENCODER_TIMEOUT_S": f"{ENV_PREFIX}ENCODERS__TIMEOUT_S",
    **{f"{ENV_PREFIX}INDEX_{name.upper()}": f"{ENV_PREFIX}INDEX__{name.upper()}" for name in IndexConfig.model_fields},
}


class UserStateClientSettings(BaseModel):
    """How the ranker reaches user-state (KAIROS_RANKER_USER_STATE__<NAME>, YAML `user_state:`)."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(
        "127.0.0.1:50051", description="Target of the user-state service: host:port or dns:///host:port."
    )
    lb_policy: Literal["pick_first", "round_robin"] = Field(
        "round_robin", description="Balancing over every address user_state.address resolves to."
    )
    tls: bool = Field(False, description="Reach user-state over TLS (trusting user_state.tls_ca_file).")
    tls_ca_file: Path | None = Field(None, description="PEM CA bundle trusted for user-state's cert.")
    tls_cert_file: Path | None = Field(None, description="PEM client certificate for mTLS to user-state.")
    tls_key_file: Path | None = Field(None, description="PEM private key of user_state.tls_cert_file.")
    auth_token_file: Path | None = Field(
        None, description="File whose first line is the bearer token sent to user-state."
    )
    timeout_s: float = Field(
        0.25, gt=0, description="Most time one GetSequences may take (the caller's deadline may cut it shorter)."
    )
    max_attempts: int = Field(1, ge=1, le=5, description="Attempts per GetSequences on UNAVAILABLE.")
    sequence_cache_size: int = Field(
        2048,
        ge=0,
        description="Users whose decoded events are reused while user-state sends the same bytes for them (about "
        "17 KB each at 50 events; 0: decode every reply).",
    )

    @model_validator(mode="after")
    def _tls(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("user_state.tls_cert_file and user_state.tls_key_file must be set together")
        if not self.tls and (self.tls_ca_file or self.tls_cert_file):
            raise ValueError("user_state.tls_ca_file/user_state.tls_cert_file need user_state.tls=true")
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file", "auth_token_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"user_state.{name}: {path} is not a readable file")
        return self

    def channel(self) -> ChannelSettings:
        """The channel these settings describe: target, balancing, TLS/mTLS, bearer token, attempts."""
        return ChannelSettings(
            address=self.address,
            lb_policy=self.lb_policy,
            tls=self.tls,
            tls_ca_file=self.tls_ca_file,
            tls_cert_file=self.tls_cert_file,
            tls_key_file=self.tls_key_file,
            auth_token_file=self.auth_token_file,
            max_attempts=self.max_attempts,
        )


class RankerSettings(ServiceSettings):
    """Everything `python -m ranker serve` can be told. Every field is also KAIROS_RANKER_<NAME>; a nested one
    KAIROS_RANKER_<MODEL>__<NAME> (e.g. KAIROS_RANKER_ENCODERS__MAX_RETRIES)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        validate_default=True,
        env_ignore_empty=True,
    )

    port: int = Field(50052, ge=0, le=65535, description="gRPC port; 0 picks a free port.")
    metrics_port: int | None = Field(9101, ge=0, le=65535, description="Prometheus port; 0 = free; null disables.")

    artifact: Path = Field(REPO_ROOT / "artifacts" / "current", description="Model artifact directory or symlink.")
    artifact_poll_s: float = Field(
        5.0, ge=0, description="How often the artifact path is checked for a new version (0: only on SIGHUP)."
    )
    data_dir: Path = Field(Path("var/ranker"), description="Where the embedded item store (SQLite) lives.")

    user_state: UserStateClientSettings = Field(
        default_factory=UserStateClientSettings, description="How the ranker reaches user-state."
    )
    history_fetch_limit: int = Field(
        100, ge=1, le=100_000, description="Newest events fetched per user (the model uses its max_len of them)."
    )

    encoders: EncoderClientSettings = Field(
        default_factory=EncoderClientSettings,
        description="The item-encoder client: Triton (encoders.triton_url) or in-process ONNX Runtime (unset).",
    )
    encoder_warm_up: bool = Field(
        True, description="Report SERVING only after the encoders embedded one text and one image (false: at once)."
    )
    encoder_warm_up_timeout_s: float = Field(
        300.0, gt=0, description="Most time one warm-up attempt may take (cold model load included)."
    )
    encoder_warm_up_retry_s: float = Field(5.0, gt=0, description="Pause between failed warm-up attempts.")
    text_field_order: tuple[str, ...] = Field(
        ("title", "genres", "plot"), description="Order in which Item.text_fields are joined into the item text."
    )

    redis_url: str | None = Field(None, description="When set, item changes fan out to every replica via Redis.")
    redis_stream: str = Field("kairos:ranker:items", min_length=1, description="Redis Stream of item changes.")
    replica_id: str = Field(default_factory=_default_replica_id, description="Name of this replica in the stream.")

    batch_window_ms: float = Field(
        2.0, ge=0, description="Micro-batching: how long a batch waits for company while another batch computes."
    )
    max_batch_size: int = Field(64, ge=1, le=4096, description="Micro-batching: most requests per batch (1: off).")
    new_item_exact_max: int = Field(
        20_000,
        ge=0,
        description="Models that place new items by their closest recent item score every new item (no training "
        "events) exactly per request; above this many the term is skipped and the answer is flagged.",
    )
    compute_threads: int = Field(
        1, ge=0, description="Torch intra-op threads of the compute worker (0: torch's default, one per core)."
    )
    blas_threads: int = Field(
        1,
        ge=0,
        description="Threads of numpy's BLAS (OpenBLAS) in the ranker (0: its default, one per core). Every BLAS "
        "call here is small, and idle OpenBLAS workers spin: with one per core an idle ranker burned 0.6-0.9 cores "
        "at 20 Recommend/s, 0.09 with one thread.",
    )
    history_cache_size: int = Field(
        50_000,
        ge=0,
        description="Users whose history state (the transformer pass) is kept until their history changes (0: off).",
    )
    compute_reserve_ms: float = Field(
        15.0, ge=0, description="Part of the caller's deadline kept for forward pass + scoring after user state."
    )

    max_k: int = Field(1000, ge=1, description="Largest k a Recommend may ask for.")
    max_candidates: int = Field(10_000, ge=1, description="Most candidate_ids in one Recommend.")
    max_recent_events: int = Field(200, ge=0, description="Most inline recent_events in one Recommend.")
    max_id_bytes: int = Field(256, ge=1, description="Longest user/item/event id, in UTF-8 bytes.")
    max_future_ms: int = Field(86_400_000, ge=0, description="How far past the server clock a time may lie.")
    max_upsert_items: int = Field(256, ge=1, description="Most items in one UpsertItems.")
    max_delete_items: int = Field(10_000, ge=1, description="Most ids in one DeleteItems.")
    max_image_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Largest accepted encoded image.")
    max_text_chars: int = Field(20_000, gt=0, description="Longest accepted item text (after joining fields).")
    max_attributes: int = Field(64, ge=0, description="Most attributes one item may carry.")
    max_attribute_bytes: int = Field(256, ge=1, description="Longest attribute key or value, in UTF-8 bytes.")
    max_filter_conditions: int = Field(32, ge=0, description="Most include + exclude conditions in one filter.")
    max_filter_values: int = Field(1024, ge=1, description="Most values in one filter condition.")

    popularity_half_life_s: float = Field(
        86_400.0, gt=0, description="Decay of the popularity counts used by the no-history fallback."
    )

    index: IndexConfig = Field(default_factory=IndexConfig, description="Item-index tuning.")

    @model_validator(mode="before")
    @classmethod
    def _renamed_env(cls, data: Any) -> Any:
        stale = sorted(name for name in os.environ if name.upper() in RENAMED_ENV)
        if stale:
            moved = ", ".join(f"{name} -> {RENAMED_ENV[name.upper()]}" for name in stale)
            raise ValueError(f"environment variables renamed (nested settings): {moved}")
        return data

    @model_validator(mode="after")
    def _redis_url(self) -> Self:
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must start with redis://, rediss:// or unix://")
        return self

    def user_state_channel(self) -> ChannelSettings:
        """How the ranker reaches user-state: target, balancing, TLS/mTLS, bearer token, attempts."""
        return self.user_state.channel()

    def index_config(self) -> IndexConfig:
        """The item-index tuning these settings describe."""
        return self.index
