"""What every embedding backend offers to :class:`encoders.client.EncoderClient`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from encoders.embeddings import Embeddings

Modality = Literal["text", "image"]


class EmbeddingBackend(Protocol):
    """Embeds one chunk of already validated items; raises EncoderUnavailableError on whole-call failure."""

    def known_max_batch_size(self, modality: Modality) -> int | None:
        """The max batch if known without a network call."""
        ...

    async def max_batch_size(self, modality: Modality, timeout_s: float) -> int: ...

    async def embed(self, modality: Modality, items: Sequence[str | bytes], timeout_s: float) -> Embeddings: ...

    async def close(self) -> None: ...
