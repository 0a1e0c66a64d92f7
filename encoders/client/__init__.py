"""Async encoder client: ``create_encoder_client(settings)`` -> :class:`EncoderClient` (Triton or in-process)."""

from __future__ import annotations

from encoders.client.backends import EmbeddingBackend
from encoders.client.client import EncoderClient
from encoders.client.inprocess_backend import InProcessBackend
from encoders.client.settings import EncoderClientSettings
from encoders.client.triton_backend import TritonBackend
from encoders.embeddings import Embeddings
from encoders.errors import CircuitOpenError, EncoderDeadlineExceededError, EncoderUnavailableError
from encoders.settings import EncoderSettings

__all__ = [
    "CircuitOpenError",
    "Embeddings",
    "EncoderClient",
    "EncoderClientSettings",
    "EncoderDeadlineExceededError",
    "EncoderUnavailableError",
    "create_encoder_client",
]


def create_encoder_client(
    settings: EncoderClientSettings | None = None, encoder_settings: EncoderSettings | None = None
) -> EncoderClient:
    """Triton backend when ``settings.triton_url`` is set, else in-process ONNX Runtime (loaded lazily)."""
    settings = settings or EncoderClientSettings()
    encoder_settings = encoder_settings or EncoderSettings()
    backend: EmbeddingBackend
    if settings.triton_url:
        backend = TritonBackend(
            settings.triton_url,
            settings.text_model,
            settings.image_model,
            settings.max_batch_size,
            settings.reconnect_backoff_max_s,
            settings.triton_ssl,
            settings.triton_root_certificates,
        )
    else:
        backend = InProcessBackend(encoder_settings, settings.inprocess_workers, settings.max_batch_size)
    return EncoderClient(backend, settings, encoder_settings)
