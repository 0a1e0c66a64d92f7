"""Synchronous in-process encoders (tokeniser/pre-processor + ONNX Runtime), used offline and as fallback."""

from __future__ import annotations

from collections.abc import Sequence

from encoders.artifacts import ensure_onnx_artifacts
from encoders.embeddings import Embeddings
from encoders.image_preprocessing import ImagePreprocessor
from encoders.ort_runtime import OrtImageEncoder, OrtTextEncoder
from encoders.settings import EncoderSettings
from encoders.tokenization import TextTokenizer


class InProcessEncoders:
    """Embeds raw texts and raw image bytes with ONNX Runtime in this process (blocking calls)."""

    def __init__(self, settings: EncoderSettings | None = None) -> None:
        self.settings = settings or EncoderSettings()
        s = self.settings
        artifacts = ensure_onnx_artifacts(s.build_dir / "onnx-cache", s.onnx_opset, s.image_size)
        self.tokenizer = TextTokenizer(s.text_max_tokens)
        self.preprocessor = ImagePreprocessor(s.image_size, s.max_image_bytes, s.max_image_pixels)
        self.text = OrtTextEncoder(artifacts.text, s.ort_intra_op_threads)
        self.image = OrtImageEncoder(artifacts.image, s.ort_intra_op_threads)

    def embed_texts(self, texts: Sequence[str]) -> Embeddings:
        """Embed ``texts`` (one ONNX call); empty texts get a per-item error."""
        return self.text.embed(self.tokenizer(texts))

    def embed_images(self, images: Sequence[bytes]) -> Embeddings:
        """Embed encoded images (one ONNX call); bad images get a per-item error."""
        return self.image.embed(self.preprocessor(images))
