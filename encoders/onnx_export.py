"""Export the encoders to ONNX with the dynamo exporter (dynamic batch; dynamic sequence length for text)."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx
import torch

from encoders.image_model import load_image_model
from encoders.names import IMAGE_INPUT, IMAGE_OUTPUT, TEXT_INPUTS, TEXT_OUTPUT
from encoders.text_model import load_text_model

LOG = logging.getLogger(__name__)
logging.getLogger("onnx_ir").setLevel(logging.WARNING)  # one INFO line per deduplicated initializer

_EXAMPLE_BATCH = 2
_EXAMPLE_SEQ = 16


def _export(model: torch.nn.Module, args: tuple, path: Path, input_names, output_name, dynamic_shapes, opset) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".onnx.tmp")
    program = torch.onnx.export(
        model,
        args,
        dynamo=True,
        input_names=list(input_names),
        output_names=[output_name],
        dynamic_shapes=dynamic_shapes,
        opset_version=opset,
        optimize=True,
        verbose=False,
    )
    if program is None:  # only None with the legacy exporter (dynamo=False), never used here
        raise RuntimeError("torch.onnx.export returned no ONNXProgram")
    program.save(str(tmp), external_data=False)
    onnx.checker.check_model(str(tmp))
    tmp.replace(path)
    LOG.info("exported", extra={"path": str(path)})
    return path


def export_text_encoder(path: Path, opset: int = 18) -> Path:
    """Export MiniLM: (input_ids, attention_mask) int64 [batch, seq] -> text_embedding float32 [batch, 384]."""
    model = load_text_model()
    ids = torch.randint(1000, 2000, (_EXAMPLE_BATCH, _EXAMPLE_SEQ), dtype=torch.int64)
    mask = torch.ones_like(ids)
    batch, seq = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("seq", min=2, max=512)
    shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    return _export(model, (ids, mask), path, TEXT_INPUTS, TEXT_OUTPUT, shapes, opset)


def export_image_encoder(path: Path, opset: int = 18, image_size: int = 224) -> Path:
    """Export EfficientNet-Lite0: pixels float32 [batch, 3, 224, 224] -> image_embedding float32 [batch, 1280]."""
    model = load_image_model()
    pixels = torch.randn(_EXAMPLE_BATCH, 3, image_size, image_size)
    shapes = {"pixels": {0: torch.export.Dim("batch", min=1, max=4096)}}
    return _export(model, (pixels,), path, (IMAGE_INPUT,), IMAGE_OUTPUT, shapes, opset)
