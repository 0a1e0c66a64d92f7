"""Triton python model: UTF-8 strings -> (input_ids, attention_mask, error) with the MiniLM tokenizer."""

from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils

from encoders.names import ERROR_OUT, TEXT_IN, TEXT_INPUTS
from encoders.tokenization import TextTokenizer
from encoders.triton.python_models.common import error_tensor, model_parameters


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        params = model_parameters(args)
        max_tokens = int(params["max_tokens"])
        self.tokenizer = TextTokenizer(max_tokens)
        self.pad_to = max_tokens if params.get("pad_to_max_tokens") == "true" else None

    def _tokenise(self, raw: np.ndarray):
        texts: list[str] = []
        decode_errors: list[str | None] = []
        for value in raw.reshape(-1):
            try:
                texts.append(value.decode("utf-8") if isinstance(value, bytes) else str(value))
                decode_errors.append(None)
            except UnicodeDecodeError:
                texts.append("")
                decode_errors.append("text: not valid UTF-8")
        tokens = self.tokenizer(texts, pad_to=self.pad_to)
        tokens.errors = [d or e for d, e in zip(decode_errors, tokens.errors, strict=True)]
        return tokens

    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            tokens = self._tokenise(pb_utils.get_input_tensor_by_name(request, TEXT_IN).as_numpy())
            outputs = [
                pb_utils.Tensor(TEXT_INPUTS[0], tokens.input_ids),
                pb_utils.Tensor(TEXT_INPUTS[1], tokens.attention_mask),
                pb_utils.Tensor(ERROR_OUT, error_tensor(tokens.errors)),
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
