"""The PyTorch encoders reproduce the published models and their ONNX exports match them (<= 1e-4)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from encoders.image_model import IMAGE_DIM, efficientnet_lite0_weights, load_image_model
from encoders.image_preprocessing import ImagePreprocessor
from encoders.text_model import TEXT_DIM, load_text_model, minilm_dir
from encoders.tokenization import TextTokenizer

TEXTS = [
    "Toy Story. Animation, Children's, Comedy. A little boy named Andy loves to be in his room.",
    "GoldenEye",
    "When a deadly satellite weapon system falls into the wrong hands, only Agent 007 can save the world. " * 3,
]


@pytest.fixture(scope="module")
def text_model():
    return load_text_model()


@pytest.fixture(scope="module")
def image_model():
    return load_image_model()


def test_text_encoder_matches_sentence_transformers_reference(text_model):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm_dir()), device="cpu").encode(TEXTS, convert_to_numpy=True)
    tokens = TextTokenizer(256)(TEXTS)
    with torch.no_grad():
        ours = text_model(torch.from_numpy(tokens.input_ids), torch.from_numpy(tokens.attention_mask)).numpy()
    assert ours.shape == (3, TEXT_DIM)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.abs(ours - reference).max() < 1e-5


def test_image_encoder_uses_imagenet_weights(image_model, synthetic_images):
    """Weights equal the bundled checkpoint; the features are exactly what the classifier head pools."""
    checkpoint = torch.load(efficientnet_lite0_weights(), map_location="cpu", weights_only=True)
    state = image_model.backbone.state_dict()
    assert all(torch.equal(state[k], v) for k, v in checkpoint.items())
    pixels = torch.from_numpy(ImagePreprocessor()(synthetic_images).pixels)
    with torch.no_grad():
        features = image_model(pixels)
        logits_via_features = image_model.backbone._fc(features)
        logits_direct = image_model.backbone(pixels)
    assert features.shape == (3, IMAGE_DIM)
    assert torch.allclose(logits_via_features, logits_direct, atol=1e-4)
    assert float(features.min()) >= 0.0 and float(features.max()) <= 6.0  # ReLU6 activations, averaged


def _input_dims(path):
    model = onnx.load(str(path), load_external_data=False)
    return {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}


def test_onnx_graphs_have_dynamic_batch_and_sequence(onnx_artifacts):
    text = _input_dims(onnx_artifacts.text)
    assert all(isinstance(d[0], str) and isinstance(d[1], str) for d in text.values()), text
    image = _input_dims(onnx_artifacts.image)
    assert isinstance(image["pixels"][0], str) and image["pixels"][1:] == [3, 224, 224]


@pytest.mark.parametrize(("batch", "seq"), [(1, 2), (3, 17), (5, 256)])
def test_text_onnx_parity_with_pytorch(onnx_artifacts, text_model, batch, seq):
    rng = np.random.default_rng(batch * seq)
    ids = rng.integers(1000, 30000, (batch, seq), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[0, max(1, seq // 2) :] = 0  # a padded row
    session = ort.InferenceSession(str(onnx_artifacts.text), providers=["CPUExecutionProvider"])
    ours = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    with torch.no_grad():
        reference = text_model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    assert ours.shape == (batch, TEXT_DIM)
    assert np.abs(ours - reference).max() <= 1e-4


@pytest.mark.parametrize("batch", [1, 4])
def test_image_onnx_parity_with_pytorch(onnx_artifacts, image_model, synthetic_images, batch):
    pixels = ImagePreprocessor()((synthetic_images * 2)[:batch]).pixels
    session = ort.InferenceSession(str(onnx_artifacts.image), providers=["CPUExecutionProvider"])
    ours = session.run(None, {"pixels": pixels})[0]
    with torch.no_grad():
        reference = image_model(torch.from_numpy(pixels)).numpy()
    assert ours.shape == (batch, IMAGE_DIM)
    assert np.abs(ours - reference).max() <= 1e-4


def test_padding_does_not_change_a_text_embedding(inprocess):
    alone = inprocess.embed_texts(["GoldenEye"]).vectors[0]
    padded = inprocess.embed_texts(["GoldenEye", TEXTS[2]]).vectors[0]
    assert np.abs(alone - padded).max() < 1e-5
