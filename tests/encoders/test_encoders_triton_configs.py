"""Generated model repositories: every config.pbtxt parses as Triton's ModelConfig and the models fit together."""

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from encoders.triton.model_configs import (
    IMAGE_EMBED,
    IMAGE_ENCODER,
    IMAGE_PREPROCESS,
    TEXT_EMBED,
    TEXT_ENCODER,
    TEXT_PREPROCESS,
)
from encoders.triton.repository import generate_repository
from encoders.triton.settings import Flavor, RepositorySettings

MODELS = {TEXT_PREPROCESS, IMAGE_PREPROCESS, TEXT_ENCODER, IMAGE_ENCODER, TEXT_EMBED, IMAGE_EMBED}


def _parse(path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


@pytest.fixture(params=list(Flavor), ids=lambda f: f.value)
def repository(request, tmp_path, onnx_artifacts):
    flavor = request.param
    settings = RepositorySettings(max_batch_size=16, preferred_batch_sizes=(4, 8), max_queue_delay_us=500)
    files = {TEXT_ENCODER: onnx_artifacts.text, IMAGE_ENCODER: onnx_artifacts.image}
    written = generate_repository(flavor, tmp_path, settings, None if flavor is Flavor.TENSORRT else files, True)
    return flavor, tmp_path, {name: _parse(path) for name, path in written.items()}


def test_every_model_is_written_and_parses(repository):
    _, root, configs = repository
    assert set(configs) == MODELS
    assert {p.name for p in root.iterdir()} == MODELS
    for name, config in configs.items():
        assert config.name == name
        assert config.max_batch_size == 16
        assert config.version_policy.latest.num_versions == 1
        assert (root / name / "1").is_dir()


def test_backends_model_files_and_instance_kinds(repository):
    flavor, root, configs = repository
    for name in (TEXT_ENCODER, IMAGE_ENCODER):
        config = configs[name]
        kind = config.instance_group[0].kind
        assert kind == (mc.ModelInstanceGroup.KIND_GPU if flavor is Flavor.TENSORRT else mc.ModelInstanceGroup.KIND_CPU)
        assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
        assert config.dynamic_batching.max_queue_delay_microseconds == 500
        if flavor is Flavor.PYTHON:
            assert config.backend == "python"
            assert (root / name / "1" / "model.py").exists() and (root / name / "1" / "model.onnx").exists()
        elif flavor is Flavor.ONNXRUNTIME:
            assert (config.platform, config.default_model_filename) == ("onnxruntime_onnx", "model.onnx")
            assert (root / name / "1" / "model.onnx").stat().st_size > 1_000_000
        else:
            assert (config.platform, config.default_model_filename) == ("tensorrt_plan", "model.plan")
    for name in (TEXT_PREPROCESS, IMAGE_PREPROCESS):
        assert configs[name].backend == "python"
        assert configs[name].instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
        assert "TritonPythonModel" in (root / name / "1" / "model.py").read_text()
    ragged = [i.allow_ragged_batch for i in configs[TEXT_ENCODER].input]
    assert ragged == [flavor is Flavor.PYTHON] * 2
    pad = configs[TEXT_PREPROCESS].parameters["pad_to_max_tokens"].string_value
    assert pad == ("false" if flavor is Flavor.PYTHON else "true")


def test_ensemble_steps_connect_existing_tensors(repository):
    _, _, configs = repository
    for name in (TEXT_EMBED, IMAGE_EMBED):
        ensemble = configs[name]
        assert ensemble.platform == "ensemble"
        available = {i.name: (i.data_type, list(i.dims)) for i in ensemble.input}
        for step in ensemble.ensemble_scheduling.step:
            model = configs[step.model_name]
            model_inputs = {i.name: (i.data_type, list(i.dims)) for i in model.input}
            model_outputs = {o.name: (o.data_type, list(o.dims)) for o in model.output}
            assert set(step.input_map) == set(model_inputs)
            for model_input, tensor in step.input_map.items():
                assert available[tensor] == model_inputs[model_input], (name, model_input)
            for model_output, tensor in step.output_map.items():
                available[tensor] = model_outputs[model_output]
        for output in ensemble.output:
            assert available[output.name] == (output.data_type, list(output.dims)), (name, output.name)


def test_dynamic_batching_can_be_switched_off(tmp_path):
    written = generate_repository(Flavor.PYTHON, tmp_path, RepositorySettings(dynamic_batching=False))
    assert not _parse(written[TEXT_ENCODER]).HasField("dynamic_batching")


def test_invalid_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="preferred_batch_sizes"):
        RepositorySettings(max_batch_size=8, preferred_batch_sizes=(4, 16))
    with pytest.raises(ValueError, match="model_files: unknown"):
        generate_repository(Flavor.ONNXRUNTIME, tmp_path, model_files={"ranker": tmp_path})


def test_cli_generates_a_repository(tmp_path):
    from encoders.triton.__main__ import main

    main(["generate", "--flavor", "tensorrt", "--out", str(tmp_path / "repo")])
    assert _parse(tmp_path / "repo" / TEXT_ENCODER / "config.pbtxt").platform == "tensorrt_plan"


@pytest.mark.parametrize("flavor", list(Flavor), ids=lambda f: f.value)
def test_committed_templates_match_the_generator(flavor, tmp_path):
    from encoders.settings import REPO_ROOT

    template = REPO_ROOT / "deploy" / "triton" / flavor.value
    generate_repository(flavor, tmp_path, RepositorySettings(_env_file=None))
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated == sorted(
        p.relative_to(template) for p in template.rglob("*") if p.is_file() and p.name != ".gitkeep"
    )
    for relative in generated:
        assert (template / relative).read_text() == (tmp_path / relative).read_text(), relative
