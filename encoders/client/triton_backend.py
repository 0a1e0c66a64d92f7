"""Triton backend over ``tritonclient.grpc.aio``: calls the text_embed / image_embed ensembles."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tritonclient.grpc import InferenceServerException, InferInput, InferRequestedOutput, KeepAliveOptions
from tritonclient.grpc._client import MAX_GRPC_MESSAGE_SIZE
from tritonclient.grpc.aio import InferenceServerClient

from encoders.client.backends import Modality
from encoders.embeddings import Embeddings
from encoders.errors import EncoderDeadlineExceededError, EncoderUnavailableError
from encoders.names import EMBEDDING_OUT, ERROR_OUT, IMAGE_IN, TEXT_IN

UNAVAILABLE = "StatusCode.UNAVAILABLE"
DEADLINE_EXCEEDED = "StatusCode.DEADLINE_EXCEEDED"


def _channel_args(reconnect_backoff_max_s: float) -> list[tuple[str, int]]:
    """tritonclient's defaults plus a short reconnect back-off, so a restarted Triton is found quickly."""
    keepalive = KeepAliveOptions()
    backoff_ms = int(reconnect_backoff_max_s * 1000)
    return [
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
        ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
        ("grpc.initial_reconnect_backoff_ms", min(100, backoff_ms)),
        ("grpc.min_reconnect_backoff_ms", min(100, backoff_ms)),
        ("grpc.max_reconnect_backoff_ms", backoff_ms),
    ]


class RetryableUnavailableError(EncoderUnavailableError):
    """Triton answered UNAVAILABLE (or could not be reached): worth retrying after a back-off."""


def translate_error(exc: InferenceServerException, what: str) -> EncoderUnavailableError:
    """Map a tritonclient error to the client's typed errors."""
    status = exc.status() or ""
    message = f"{what}: {status or 'error'}: {exc.message()}"
    if status == DEADLINE_EXCEEDED:
        return EncoderDeadlineExceededError(message)
    if status == UNAVAILABLE:
        return RetryableUnavailableError(message)
    return EncoderUnavailableError(message)


class TritonBackend:
    """One gRPC channel to Triton; each :meth:`embed` is one inference request of at most max_batch items."""

    def __init__(
        self,
        url: str,
        text_model: str,
        image_model: str,
        max_batch: int | None = None,
        reconnect_backoff_max_s: float = 1.0,
        ssl: bool = False,
        root_certificates: Path | None = None,
    ) -> None:
        self.url = url
        self._client = InferenceServerClient(
            url,
            ssl=ssl,
            root_certificates=str(root_certificates) if root_certificates else None,
            channel_args=_channel_args(reconnect_backoff_max_s),
        )
        self._models = {"text": text_model, "image": image_model}
        self._inputs = {"text": TEXT_IN, "image": IMAGE_IN}
        self._max_batch: dict[str, int] = {"text": max_batch, "image": max_batch} if max_batch else {}

    def known_max_batch_size(self, modality: Modality) -> int | None:
        return self._max_batch.get(modality)

    async def max_batch_size(self, modality: Modality, timeout_s: float) -> int:
        """The model's ``max_batch_size`` from its Triton config (asked once, then remembered)."""
        if modality not in self._max_batch:
            model = self._models[modality]
            try:
                response = await self._client.get_model_config(model, as_json=True, client_timeout=timeout_s)
            except InferenceServerException as exc:
                raise translate_error(exc, f"get_model_config({model}) at {self.url}") from exc
            self._max_batch[modality] = max(1, int(response["config"].get("max_batch_size", 1)))
        return self._max_batch[modality]

    async def embed(self, modality: Modality, items: Sequence[str | bytes], timeout_s: float) -> Embeddings:
        payload = np.array(
            [[item.encode("utf-8") if isinstance(item, str) else bytes(item)] for item in items], dtype=np.object_
        )
        request = InferInput(self._inputs[modality], list(payload.shape), "BYTES")
        request.set_data_from_numpy(payload)
        outputs = [InferRequestedOutput(EMBEDDING_OUT), InferRequestedOutput(ERROR_OUT)]
        model = self._models[modality]
        try:
            result = await self._client.infer(model, [request], outputs=outputs, client_timeout=timeout_s)
        except InferenceServerException as exc:
            raise translate_error(exc, f"infer({model}) at {self.url}") from exc
        vectors = np.asarray(result.as_numpy(EMBEDDING_OUT), dtype=np.float32).copy()
        errors = [e.decode("utf-8") or None for e in result.as_numpy(ERROR_OUT).reshape(-1)]
        return Embeddings(vectors, errors)

    async def close(self) -> None:
        await self._client.close()
