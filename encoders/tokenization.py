"""Tokenisation of item texts for MiniLM with the ``tokenizers`` library (truncation, never an error)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from encoders.errors import InvalidItemError
from encoders.weights import minilm_dir

EMPTY_TEXT_ERROR = "text: empty after stripping whitespace"


@dataclass
class TokenBatch:
    """Padded token ids and attention mask, int64 (n, seq_len); rows of invalid items are [CLS][SEP]."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    errors: list[str | None]


class TextTokenizer:
    """Wraps the bundled ``tokenizer.json``: truncates to ``max_tokens`` and pads to the longest text."""

    def __init__(self, max_tokens: int = 256, tokenizer_file: Path | None = None) -> None:
        self.max_tokens = max_tokens
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file or minilm_dir() / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        pad_id = self._tokenizer.token_to_id("[PAD]")
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]")

    @staticmethod
    def validate(text: object) -> str:
        """Return the text if it can be embedded, else raise :class:`InvalidItemError`."""
        if not isinstance(text, str):
            raise InvalidItemError(f"text: expected a string, got {type(text).__name__}")
        if not text.strip():
            raise InvalidItemError(EMPTY_TEXT_ERROR)
        return text

    def __call__(self, texts: Sequence[object], pad_to: int | None = None) -> TokenBatch:
        """Tokenise ``texts``; invalid ones get an error and a placeholder row, the others are unaffected.

        ``pad_to`` pads every row to a fixed length (for engines with a fixed sequence length).
        """
        errors: list[str | None] = []
        valid: list[str] = []
        for text in texts:
            try:
                valid.append(self.validate(text))
                errors.append(None)
            except InvalidItemError as exc:
                valid.append("")
                errors.append(str(exc))
        if pad_to is not None:
            self._tokenizer.enable_padding(
                pad_id=self._tokenizer.token_to_id("[PAD]"), pad_token="[PAD]", length=pad_to
            )
        try:
            encodings = self._tokenizer.encode_batch(valid) if valid else []
        finally:
            if pad_to is not None:
                self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
        if not encodings:
            empty = np.zeros((0, 2), dtype=np.int64)
            return TokenBatch(empty, empty.copy(), errors)
        input_ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        attention_mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        return TokenBatch(input_ids, attention_mask, errors)
