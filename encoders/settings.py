"""Typed settings of the encoders (environment prefix ``KAIROS_ENCODERS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class EncoderSettings(BaseSettings):
    """Model, pre-processing and artifact settings shared by every encoder component."""

    model_config = SettingsConfigDict(env_prefix="KAIROS_ENCODERS_", extra="ignore")

    data_dir: Path = Field(
        default=REPO_ROOT.parent / "shared" / "data" / "ml100k-mm",
        description="Dataset folder holding items.csv and images/.",
    )
    build_dir: Path = Field(
        default=REPO_ROOT / "build" / "encoders", description="Where ONNX exports and repositories go."
    )
    text_fields: tuple[str, ...] = Field(
        default=("title", "genres", "plot"), description="Item fields concatenated into the item text."
    )
    text_max_tokens: int = Field(default=256, ge=8, le=512, description="Tokens kept per text (incl. CLS/SEP).")
    image_size: int = Field(default=224, description="Square input resolution of the image encoder.")
    max_image_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest accepted encoded image.")
    max_image_pixels: int = Field(
        default=40_000_000, gt=0, description="Largest accepted decoded image (width x height)."
    )
    ort_intra_op_threads: int = Field(default=0, ge=0, description="ONNX Runtime intra-op threads (0 = auto).")
    onnx_opset: int = Field(default=18, ge=17, description="ONNX opset used by the exporter.")
