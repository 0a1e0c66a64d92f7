"""Triton python model: encoded JPEG/PNG bytes -> (normalised pixels, error), guarded against bad input."""

from __future__ import annotations

import triton_python_backend_utils as pb_utils

from encoders.image_preprocessing import ImagePreprocessor
from encoders.names import ERROR_OUT, IMAGE_IN, IMAGE_INPUT
from encoders.triton.python_models.common import error_tensor, model_parameters


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        params = model_parameters(args)
        self.preprocessor = ImagePreprocessor(
            size=int(params["image_size"]),
            max_bytes=int(params["max_image_bytes"]),
            max_pixels=int(params["max_image_pixels"]),
        )

    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            raw = pb_utils.get_input_tensor_by_name(request, IMAGE_IN).as_numpy().reshape(-1)
            batch = self.preprocessor(list(raw))
            outputs = [
                pb_utils.Tensor(IMAGE_INPUT, batch.pixels),
                pb_utils.Tensor(ERROR_OUT, error_tensor(batch.errors)),
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
