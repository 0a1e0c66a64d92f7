"""Tensor names, dimensions and file names shared by export, Triton, TensorRT and the client.

Free of heavy imports (no torch, no tritonclient) so the Triton python models and the TensorRT build can use it
inside NVIDIA's containers.
"""

from __future__ import annotations

TEXT_DIM = 384
IMAGE_DIM = 1280

# encoder graphs (ONNX / TensorRT / Triton encoder models)
TEXT_INPUTS = ("input_ids", "attention_mask")
TEXT_OUTPUT = "text_embedding"
IMAGE_INPUT = "pixels"
IMAGE_OUTPUT = "image_embedding"

# pre-processing models and ensembles
TEXT_IN = "text"  # UTF-8 strings
IMAGE_IN = "image"  # encoded JPEG/PNG bytes
EMBEDDING_OUT = "embedding"
ERROR_OUT = "error"  # per item: empty string when fine, else why it failed

# exported files
TEXT_ONNX = "text_encoder.onnx"
IMAGE_ONNX = "image_encoder.onnx"
