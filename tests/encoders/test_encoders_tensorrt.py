"""TensorRT build: profiles, validation and paths are checked everywhere; the engine build only where
TensorRT is importable (NVIDIA container)."""

import json

import pytest

from encoders.tensorrt.__main__ import main
from encoders.tensorrt.builder import TensorRTUnavailableError, build_engine, import_tensorrt
from encoders.tensorrt.paths import build_paths
from encoders.tensorrt.profiles import profile_for
from encoders.tensorrt.settings import TensorRTSettings

try:
    import tensorrt  # noqa: F401

    HAVE_TENSORRT = True
except ImportError:
    HAVE_TENSORRT = False


def test_text_profile_covers_batch_and_sequence():
    specs = profile_for(
        "text", TensorRTSettings(min_batch=1, opt_batch=8, max_batch=32, min_seq=2, opt_seq=64, max_seq=256)
    )
    assert [s.name for s in specs] == ["input_ids", "attention_mask"]
    assert (specs[0].min, specs[0].opt, specs[0].max) == ((1, 2), (8, 64), (32, 256))


def test_image_profile_has_fixed_chw():
    (spec,) = profile_for("image", TensorRTSettings(opt_batch=4, max_batch=16))
    assert (spec.name, spec.min, spec.opt, spec.max) == (
        "pixels",
        (1, 3, 224, 224),
        (4, 3, 224, 224),
        (16, 3, 224, 224),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"min_batch": 4, "opt_batch": 2}, "batch: need min <= opt <= max"), ({"opt_seq": 300}, "seq: need")],
)
def test_unordered_profiles_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        profile_for("text", TensorRTSettings(**overrides))


def test_paths_are_resolved_and_checked(tmp_path, onnx_artifacts):
    onnx_dir = onnx_artifacts.text.parent
    paths = build_paths("image", onnx_dir, tmp_path / "plans")
    assert paths.onnx == onnx_artifacts.image
    assert paths.plan == tmp_path / "plans" / "image_encoder.plan"
    assert paths.timing_cache == tmp_path / "plans" / "timing.cache"
    with pytest.raises(FileNotFoundError, match="onnx_dir"):
        build_paths("text", tmp_path, tmp_path)
    with pytest.raises(ValueError, match="model: expected"):
        build_paths("audio", onnx_dir, tmp_path)


def test_cli_dry_run_prints_the_plan(tmp_path, onnx_artifacts, capsys):
    onnx_dir = onnx_artifacts.text.parent
    main(["build", "--onnx-dir", str(onnx_dir), "--out", str(tmp_path), "--no-fp16", "--max-batch", "64", "--dry-run"])
    summary = json.loads(capsys.readouterr().out)
    assert [m["model"] for m in summary] == ["text", "image"]
    assert summary[0]["fp16"] is False and summary[0]["profile"][0]["max"] == [64, 256]
    assert not list(tmp_path.iterdir())


def test_cli_rejects_bad_arguments(tmp_path, onnx_artifacts):
    with pytest.raises(SystemExit):
        main(
            [
                "build",
                "--onnx-dir",
                str(onnx_artifacts.text.parent),
                "--out",
                str(tmp_path),
                "--opt-batch",
                "99",
                "--dry-run",
            ]
        )


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here")
def test_missing_tensorrt_is_explained():
    with pytest.raises(TensorRTUnavailableError, match=r"nvcr\.io/nvidia/tensorrt"):
        import_tensorrt()


@pytest.mark.tensorrt
@pytest.mark.skipif(
    not HAVE_TENSORRT, reason="TensorRT not importable: runs only in NVIDIA's TensorRT/Triton container"
)
def test_engine_build_with_fp16_and_timing_cache(tmp_path, onnx_artifacts):
    settings = TensorRTSettings(max_batch=4, opt_batch=2, max_seq=64, opt_seq=32)
    paths = build_paths("text", onnx_artifacts.text.parent, tmp_path)
    plan = build_engine(paths, profile_for("text", settings), settings)
    assert plan.stat().st_size > 1_000_000 and paths.timing_cache.stat().st_size > 0
