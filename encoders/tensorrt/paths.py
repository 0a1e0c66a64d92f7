"""Where the TensorRT build reads ONNX files and writes plans and the timing cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from encoders.names import IMAGE_ONNX, TEXT_ONNX

TEXT_PLAN = "text_encoder.plan"
IMAGE_PLAN = "image_encoder.plan"
TIMING_CACHE = "timing.cache"
MODELS = ("text", "image")


@dataclass(frozen=True)
class BuildPaths:
    """Input ONNX file and output plan of one model, plus the shared timing cache."""

    model: str
    onnx: Path
    plan: Path
    timing_cache: Path


def build_paths(model: str, onnx_dir: Path, out_dir: Path, timing_cache: Path | None = None) -> BuildPaths:
    """Resolve and check the paths for ``model`` (``text`` or ``image``); raises ValueError/FileNotFoundError."""
    if model not in MODELS:
        raise ValueError(f"model: expected one of {MODELS}, got {model!r}")
    onnx = Path(onnx_dir) / (TEXT_ONNX if model == "text" else IMAGE_ONNX)
    if not onnx.is_file():
        raise FileNotFoundError(f"onnx_dir: {onnx} not found (python -m encoders.export --out {onnx_dir})")
    plan = Path(out_dir) / (TEXT_PLAN if model == "text" else IMAGE_PLAN)
    if plan.resolve() == onnx.resolve():
        raise ValueError("out_dir: plan would overwrite its ONNX input")
    return BuildPaths(model, onnx, plan, Path(timing_cache) if timing_cache else Path(out_dir) / TIMING_CACHE)
