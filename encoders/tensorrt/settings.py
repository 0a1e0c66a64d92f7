"""TensorRT build settings (environment prefix ``KAIROS_ENCODERS_TRT_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TensorRTSettings(BaseSettings):
    """Precision, optimisation-profile bounds and builder resources."""

    model_config = SettingsConfigDict(env_prefix="KAIROS_ENCODERS_TRT_", extra="ignore")

    fp16: bool = Field(default=True, description="Allow FP16 kernels.")
    min_batch: int = Field(default=1, ge=1)
    opt_batch: int = Field(default=8, ge=1)
    max_batch: int = Field(default=32, ge=1, description="Keep equal to the Triton max_batch_size.")
    min_seq: int = Field(default=2, ge=2, description="Shortest token sequence ([CLS] [SEP]).")
    opt_seq: int = Field(default=64, ge=2)
    max_seq: int = Field(default=256, ge=2, le=512, description="Keep equal to text_max_tokens.")
    image_size: int = 224
    workspace_gib: float = Field(default=4.0, gt=0, description="Builder workspace memory pool.")
    optimization_level: int = Field(default=3, ge=0, le=5, description="Builder optimisation level.")
    timing_cache: Path | None = Field(default=None, description="Timing cache file (default: <out>/timing.cache).")
