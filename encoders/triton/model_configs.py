"""Triton ``ModelConfig`` protobufs for the encoder models, pre-processing models and ensembles."""

from __future__ import annotations

from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2 as mc

from encoders.names import (
    EMBEDDING_OUT,
    ERROR_OUT,
    IMAGE_DIM,
    IMAGE_IN,
    IMAGE_INPUT,
    IMAGE_OUTPUT,
    TEXT_DIM,
    TEXT_IN,
    TEXT_INPUTS,
    TEXT_OUTPUT,
)
from encoders.triton.settings import Flavor, RepositorySettings

TEXT_PREPROCESS = "text_preprocess"
IMAGE_PREPROCESS = "image_preprocess"
TEXT_ENCODER = "text_encoder"
IMAGE_ENCODER = "image_encoder"
TEXT_EMBED = "text_embed"
IMAGE_EMBED = "image_embed"


_PLATFORM_FILES = {
    Flavor.TENSORRT: ("tensorrt_plan", "model.plan"),
    Flavor.ONNXRUNTIME: ("onnxruntime_onnx", "model.onnx"),
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    data_type: int
    dims: tuple[int, ...]
    ragged: bool = False


def _tensors(kind, specs):
    tensors = []
    for spec in specs:
        tensor = kind(name=spec.name, data_type=spec.data_type, dims=list(spec.dims))
        if spec.ragged:
            tensor.allow_ragged_batch = True
        tensors.append(tensor)
    return tensors


def _base(name: str, settings: RepositorySettings, inputs, outputs) -> mc.ModelConfig:
    config = mc.ModelConfig(name=name, max_batch_size=settings.max_batch_size)
    config.input.extend(_tensors(mc.ModelInput, inputs))
    config.output.extend(_tensors(mc.ModelOutput, outputs))
    config.version_policy.latest.num_versions = settings.versions_kept
    return config


def _params(config: mc.ModelConfig, **values: object) -> None:
    for key, value in values.items():
        config.parameters[key].string_value = str(value)


def _instances(config: mc.ModelConfig, flavor: Flavor, count: int, gpu_capable: bool) -> None:
    kind = (
        mc.ModelInstanceGroup.KIND_GPU if flavor is Flavor.TENSORRT and gpu_capable else mc.ModelInstanceGroup.KIND_CPU
    )
    config.instance_group.append(mc.ModelInstanceGroup(kind=kind, count=count))


def _dynamic_batching(config: mc.ModelConfig, settings: RepositorySettings) -> None:
    if settings.dynamic_batching:
        config.dynamic_batching.preferred_batch_size.extend(settings.preferred_batch_sizes)
        config.dynamic_batching.max_queue_delay_microseconds = settings.max_queue_delay_us


def _backend(config: mc.ModelConfig, flavor: Flavor) -> None:
    if flavor is Flavor.PYTHON:
        config.backend = "python"
    else:
        config.platform, config.default_model_filename = _PLATFORM_FILES[flavor]


def _encoder_config(
    name: str, kind: str, inputs: list[TensorSpec], output: TensorSpec, flavor: Flavor, settings: RepositorySettings
) -> mc.ModelConfig:
    """An encoder model: the flavour's backend, dynamic batching, GPU-capable instances, ORT parameters (python)."""
    config = _base(name, settings, inputs, [output])
    _backend(config, flavor)
    _dynamic_batching(config, settings)
    _instances(config, flavor, settings.encoder_instances, gpu_capable=True)
    if flavor is Flavor.PYTHON:
        _params(config, onnx_file="model.onnx", intra_op_threads=settings.ort_intra_op_threads, kind=kind)
    return config


def text_encoder_config(flavor: Flavor, settings: RepositorySettings) -> mc.ModelConfig:
    """MiniLM: token ids and mask [seq] -> embedding [384]; ragged batches in the python flavour."""
    ragged = flavor is Flavor.PYTHON
    inputs = [TensorSpec(n, mc.TYPE_INT64, (-1,), ragged=ragged) for n in TEXT_INPUTS]
    output = TensorSpec(TEXT_OUTPUT, mc.TYPE_FP32, (TEXT_DIM,))
    return _encoder_config(TEXT_ENCODER, "text", inputs, output, flavor, settings)


def image_encoder_config(flavor: Flavor, settings: RepositorySettings) -> mc.ModelConfig:
    """EfficientNet-Lite0: normalised pixels [3, 224, 224] -> embedding [1280]."""
    size = settings.encoder.image_size
    inputs = [TensorSpec(IMAGE_INPUT, mc.TYPE_FP32, (3, size, size))]
    output = TensorSpec(IMAGE_OUTPUT, mc.TYPE_FP32, (IMAGE_DIM,))
    return _encoder_config(IMAGE_ENCODER, "image", inputs, output, flavor, settings)


def text_preprocess_config(flavor: Flavor, settings: RepositorySettings) -> mc.ModelConfig:
    """Tokenisation (python backend in every flavour); fixed-length padding where the engine needs it."""
    outputs = [TensorSpec(n, mc.TYPE_INT64, (-1,)) for n in TEXT_INPUTS]
    outputs.append(TensorSpec(ERROR_OUT, mc.TYPE_STRING, (1,)))
    config = _base(TEXT_PREPROCESS, settings, [TensorSpec(TEXT_IN, mc.TYPE_STRING, (1,))], outputs)
    config.backend = "python"
    _dynamic_batching(config, settings)  # hands several requests to one execute() call: fewer IPC round trips
    _instances(config, flavor, settings.preprocess_instances, gpu_capable=False)
    _params(
        config, max_tokens=settings.encoder.text_max_tokens, pad_to_max_tokens=str(flavor is not Flavor.PYTHON).lower()
    )
    return config


def image_preprocess_config(flavor: Flavor, settings: RepositorySettings) -> mc.ModelConfig:
    """Decoding, size guards, resizing and normalisation of JPEG/PNG bytes (python backend)."""
    size = settings.encoder.image_size
    outputs = [TensorSpec(IMAGE_INPUT, mc.TYPE_FP32, (3, size, size)), TensorSpec(ERROR_OUT, mc.TYPE_STRING, (1,))]
    config = _base(IMAGE_PREPROCESS, settings, [TensorSpec(IMAGE_IN, mc.TYPE_STRING, (1,))], outputs)
    config.backend = "python"
    _dynamic_batching(config, settings)
    _instances(config, flavor, settings.preprocess_instances, gpu_capable=False)
    _params(
        config,
        image_size=size,
        max_image_bytes=settings.encoder.max_image_bytes,
        max_image_pixels=settings.encoder.max_image_pixels,
    )
    return config


def _step(model: str, input_map: dict[str, str], output_map: dict[str, str]):
    step = mc.ModelEnsembling.Step(model_name=model, model_version=-1)
    step.input_map.update(input_map)
    step.output_map.update(output_map)
    return step


def text_embed_config(settings: RepositorySettings) -> mc.ModelConfig:
    """Ensemble: string -> (embedding [384], error)."""
    outputs = [TensorSpec(EMBEDDING_OUT, mc.TYPE_FP32, (TEXT_DIM,)), TensorSpec(ERROR_OUT, mc.TYPE_STRING, (1,))]
    config = _base(TEXT_EMBED, settings, [TensorSpec(TEXT_IN, mc.TYPE_STRING, (1,))], outputs)
    config.platform = "ensemble"
    tokens = {n: f"_{n}" for n in TEXT_INPUTS}
    config.ensemble_scheduling.step.extend(
        [
            _step(TEXT_PREPROCESS, {TEXT_IN: TEXT_IN}, {**tokens, ERROR_OUT: ERROR_OUT}),
            _step(TEXT_ENCODER, tokens, {TEXT_OUTPUT: EMBEDDING_OUT}),
        ]
    )
    return config


def image_embed_config(settings: RepositorySettings) -> mc.ModelConfig:
    """Ensemble: encoded image bytes -> (embedding [1280], error)."""
    outputs = [TensorSpec(EMBEDDING_OUT, mc.TYPE_FP32, (IMAGE_DIM,)), TensorSpec(ERROR_OUT, mc.TYPE_STRING, (1,))]
    config = _base(IMAGE_EMBED, settings, [TensorSpec(IMAGE_IN, mc.TYPE_STRING, (1,))], outputs)
    config.platform = "ensemble"
    pixels = f"_{IMAGE_INPUT}"
    config.ensemble_scheduling.step.extend(
        [
            _step(IMAGE_PREPROCESS, {IMAGE_IN: IMAGE_IN}, {IMAGE_INPUT: pixels, ERROR_OUT: ERROR_OUT}),
            _step(IMAGE_ENCODER, {IMAGE_INPUT: pixels}, {IMAGE_OUTPUT: EMBEDDING_OUT}),
        ]
    )
    return config


def all_configs(flavor: Flavor, settings: RepositorySettings) -> dict[str, mc.ModelConfig]:
    """Every model of the repository, by name."""
    return {
        TEXT_PREPROCESS: text_preprocess_config(flavor, settings),
        IMAGE_PREPROCESS: image_preprocess_config(flavor, settings),
        TEXT_ENCODER: text_encoder_config(flavor, settings),
        IMAGE_ENCODER: image_encoder_config(flavor, settings),
        TEXT_EMBED: text_embed_config(settings),
        IMAGE_EMBED: image_embed_config(settings),
    }
