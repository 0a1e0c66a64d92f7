"""Build a serialized TensorRT engine (plan) from an ONNX file with the TensorRT Python API."""

from __future__ import annotations

import logging
from pathlib import Path

from encoders.tensorrt.paths import BuildPaths
from encoders.tensorrt.profiles import InputProfile
from encoders.tensorrt.settings import TensorRTSettings

LOG = logging.getLogger(__name__)


class TensorRTUnavailableError(RuntimeError):
    """The ``tensorrt`` package is missing: run the build in NVIDIA's TensorRT or Triton container."""


def import_tensorrt():
    """Import ``tensorrt`` or explain where the build has to run."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTUnavailableError(
            "TensorRT Python package not importable; run this in nvcr.io/nvidia/tensorrt or "
            "nvcr.io/nvidia/tritonserver (see encoders/README.md)"
        ) from exc
    return trt


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def build_engine(paths: BuildPaths, profile: list[InputProfile], settings: TensorRTSettings) -> Path:
    """Parse ``paths.onnx``, apply ``profile`` and precision flags, build and write ``paths.plan``.

    The timing cache at ``paths.timing_cache`` is loaded if present and saved back afterwards, so rebuilding on
    the same GPU model is fast.
    """
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # TensorRT < 10 needs it spelled out
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(paths.onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"{paths.onnx}: ONNX parse failed: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_gib * (1 << 30)))
    config.builder_optimization_level = settings.optimization_level
    if settings.fp16:
        if not builder.platform_has_fast_fp16:
            LOG.warning("this GPU has no fast FP16; building anyway with the FP16 flag")
        config.set_flag(trt.BuilderFlag.FP16)

    optimization_profile = builder.create_optimization_profile()
    for spec in profile:
        optimization_profile.set_shape(spec.name, spec.min, spec.opt, spec.max)
    config.add_optimization_profile(optimization_profile)

    cache_bytes = paths.timing_cache.read_bytes() if paths.timing_cache.exists() else b""
    timing_cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(timing_cache, ignore_mismatch=False)

    LOG.info("building", extra={"plan": str(paths.plan), "onnx": str(paths.onnx), "fp16": settings.fp16})
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"{paths.onnx}: TensorRT engine build failed (see the log above)")
    _write_atomic(paths.plan, bytes(serialized))
    _write_atomic(paths.timing_cache, bytes(config.get_timing_cache().serialize()))
    return paths.plan
