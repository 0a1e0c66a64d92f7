"""Settings of the encoder client. They are a plain model, read from no environment of their own: the ranker
nests them as ``encoders`` (``KAIROS_RANKER_ENCODERS__<NAME>``, YAML ``encoders:``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class EncoderClientSettings(BaseModel):
    """Where embeddings come from and how hard to try. No ``triton_url`` = in-process ONNX Runtime."""

    model_config = ConfigDict(extra="forbid")

    triton_url: str | None = Field(default=None, description="Triton gRPC host:port; unset = in-process backend.")
    text_model: str = Field(default="text_embed", description="Triton model embedding raw strings.")
    image_model: str = Field(default="image_embed", description="Triton model embedding raw image bytes.")
    timeout_s: float = Field(default=10.0, gt=0, description="Default deadline of one embed call.")
    max_batch_size: int | None = Field(
        default=None, ge=1, description="Items per request; unset = the model's max_batch_size from Triton."
    )
    max_retries: int = Field(default=3, ge=0, description="Retries of a request that failed with UNAVAILABLE.")
    backoff_initial_s: float = Field(default=0.05, gt=0, description="First retry delay (doubles each retry).")
    backoff_max_s: float = Field(default=1.0, gt=0, description="Cap of one retry delay.")
    breaker_failure_threshold: int = Field(default=5, ge=1, description="Consecutive failures that open it.")
    breaker_reset_s: float = Field(default=10.0, gt=0, description="Open -> half-open cool-down.")
    cache_max_items: int = Field(default=50_000, ge=0, description="LRU embedding cache size (0 = off).")
    reconnect_backoff_max_s: float = Field(default=1.0, gt=0, description="Cap of gRPC reconnect back-off.")
    triton_ssl: bool = Field(default=False, description="TLS to Triton.")
    triton_root_certificates: Path | None = Field(default=None, description="CA bundle for TLS to Triton.")
    inprocess_workers: int = Field(default=1, ge=1, description="Threads running the in-process backend.")
