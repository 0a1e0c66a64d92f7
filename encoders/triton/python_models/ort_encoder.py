"""Triton python model running an exported encoder with ONNX Runtime.

All requests the dynamic batcher hands over in one ``execute`` call run together (text rows grouped by similar
length, each group one ONNX Runtime call; images as one call), then the result is split back per request.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from encoders.names import IMAGE_INPUT, IMAGE_OUTPUT, TEXT_INPUTS, TEXT_OUTPUT
from encoders.ort_runtime import OrtImageEncoder, OrtTextEncoder
from encoders.triton.python_models.common import model_parameters


def _pad(arrays: list[np.ndarray], length: int) -> np.ndarray:
    return np.concatenate([np.pad(a, ((0, 0), (0, length - a.shape[1]))) for a in arrays])


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        params = model_parameters(args)
        path = os.path.join(args["model_repository"], args["model_version"], params["onnx_file"])
        threads = int(params.get("intra_op_threads", "0"))
        self.kind = params["kind"]
        self.encoder = (
            OrtTextEncoder(Path(path), threads) if self.kind == "text" else OrtImageEncoder(Path(path), threads)
        )

    def _run(self, requests: list) -> tuple[np.ndarray, list[int]]:
        if isinstance(self.encoder, OrtTextEncoder):
            ids = [pb_utils.get_input_tensor_by_name(r, TEXT_INPUTS[0]).as_numpy() for r in requests]
            masks = [pb_utils.get_input_tensor_by_name(r, TEXT_INPUTS[1]).as_numpy() for r in requests]
            longest = max(a.shape[1] for a in ids)
            return self.encoder.run_bucketed(_pad(ids, longest), _pad(masks, longest)), [len(a) for a in ids]
        pixels = [pb_utils.get_input_tensor_by_name(r, IMAGE_INPUT).as_numpy() for r in requests]
        return self.encoder.run(np.concatenate(pixels)), [len(p) for p in pixels]

    def execute(self, requests: list) -> list:
        output_name = TEXT_OUTPUT if self.kind == "text" else IMAGE_OUTPUT
        try:
            vectors, counts = self._run(requests)
        except Exception as exc:  # the error goes back to every caller of this batch
            error = pb_utils.TritonError(f"{self.kind} encoder failed: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        bounds = np.cumsum([0, *counts])
        return [
            pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(output_name, vectors[a:b])])
            for a, b in itertools.pairwise(bounds)
        ]
