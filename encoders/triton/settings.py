"""Settings of the Triton model repository and of the local launcher (prefix ``KAIROS_ENCODERS_TRITON_``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from encoders.settings import EncoderSettings


class Flavor(StrEnum):
    """Which backend runs the encoders."""

    TENSORRT = "tensorrt"  # GPU production: TensorRT plans in NVIDIA's Triton container
    ONNXRUNTIME = "onnxruntime"  # CPU production: onnxruntime backend in NVIDIA's Triton container
    PYTHON = "python"  # python backend running ONNX Runtime: the local pytriton binary, CI


class RepositorySettings(BaseSettings):
    """How the generated models batch and scale."""

    model_config = SettingsConfigDict(env_prefix="KAIROS_ENCODERS_TRITON_", extra="ignore")

    max_batch_size: int = Field(default=32, ge=1, description="Largest batch a model accepts.")
    preferred_batch_sizes: tuple[int, ...] = Field(default=(8, 16, 32), description="Dynamic batcher targets.")
    max_queue_delay_us: int = Field(default=2000, ge=0, description="Longest a request waits to be batched.")
    dynamic_batching: bool = Field(default=True, description="Turn the dynamic batcher on for the encoders.")
    encoder_instances: int = Field(default=1, ge=1, description="Instances per encoder model.")
    preprocess_instances: int = Field(default=2, ge=1, description="Instances per pre-processing model.")
    versions_kept: int = Field(default=1, ge=1, description="Version policy: serve the latest N versions.")
    ort_intra_op_threads: int = Field(default=0, ge=0, description="ONNX Runtime threads per instance (0=auto).")
    encoder: EncoderSettings = Field(
        default_factory=EncoderSettings, description="Token limit, image size and limits (KAIROS_ENCODERS_*)."
    )

    @model_validator(mode="after")
    def _check_preferred(self) -> RepositorySettings:
        bad = [b for b in self.preferred_batch_sizes if not 1 <= b <= self.max_batch_size]
        if bad:
            raise ValueError(f"preferred_batch_sizes: {bad} outside 1..max_batch_size={self.max_batch_size}")
        return self


class LauncherSettings(BaseSettings):
    """The local ``tritonserver`` process (ports 0 = pick a free port)."""

    model_config = SettingsConfigDict(env_prefix="KAIROS_ENCODERS_TRITON_", extra="ignore")

    workspace: Path | None = Field(default=None, description="Folder for the repository and logs (temp if unset).")
    host: str = "127.0.0.1"
    http_port: int = Field(default=0, ge=0, le=65535)
    grpc_port: int = Field(default=0, ge=0, le=65535)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    startup_timeout_s: float = Field(default=180.0, gt=0)
    shutdown_timeout_s: float = Field(default=15.0, gt=0)
    log_verbose: int = Field(default=0, ge=0)
    onnx_cache_dir: Path | None = Field(default=None, description="ONNX export cache (<build_dir>/onnx-cache).")
    python_shm_bytes: int = Field(default=16 * 1024 * 1024, gt=0, description="Python backend shm region.")
