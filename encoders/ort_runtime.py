"""ONNX Runtime sessions for the exported encoders, with per-item error handling around them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from encoders.embeddings import Embeddings
from encoders.image_preprocessing import PixelBatch
from encoders.names import IMAGE_DIM, IMAGE_INPUT, TEXT_DIM, TEXT_INPUTS
from encoders.tokenization import TokenBatch

LENGTH_BUCKET_RATIO = 1.25  # rows batched together differ in length by at most 25% (or 16 tokens)


def create_session(path: Path, intra_op_threads: int = 0) -> ort.InferenceSession:
    """A CPU ONNX Runtime session with full graph optimisation."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OrtTextEncoder:
    """Runs the text ONNX model on token batches; invalid rows come back as zeros."""

    dim = TEXT_DIM

    def __init__(self, path: Path, intra_op_threads: int = 0) -> None:
        self.session = create_session(path, intra_op_threads)

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Raw model call: int64 (n, s) x2 -> float32 (n, 384)."""
        feeds = {TEXT_INPUTS[0]: input_ids.astype(np.int64), TEXT_INPUTS[1]: attention_mask.astype(np.int64)}
        return self.session.run(None, feeds)[0]

    def run_bucketed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Like :meth:`run`, but rows of similar length run together, each group trimmed to its own longest
        row, so short texts batched with long ones do not pay for the padding (attention cost grows with it)."""
        lengths = attention_mask.sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(lengths), self.dim), dtype=np.float32)
        start = 0
        while start < len(order):
            stop = start + 1
            while stop < len(order) and lengths[order[stop]] <= LENGTH_BUCKET_RATIO * max(lengths[order[start]], 16):
                stop += 1
            rows = order[start:stop]
            longest = int(lengths[rows].max())
            out[rows] = self.run(input_ids[rows, :longest], attention_mask[rows, :longest])
            start = stop
        return out

    def embed(self, tokens: TokenBatch) -> Embeddings:
        """Embed the valid rows of ``tokens``; rows with an error stay zeros."""
        vectors = np.zeros((len(tokens.errors), self.dim), dtype=np.float32)
        valid = [i for i, e in enumerate(tokens.errors) if e is None]
        if valid:
            vectors[valid] = self.run_bucketed(tokens.input_ids[valid], tokens.attention_mask[valid])
        return Embeddings(vectors, list(tokens.errors))


class OrtImageEncoder:
    """Runs the image ONNX model on pixel batches; invalid rows come back as zeros."""

    dim = IMAGE_DIM

    def __init__(self, path: Path, intra_op_threads: int = 0) -> None:
        self.session = create_session(path, intra_op_threads)

    def run(self, pixels: np.ndarray) -> np.ndarray:
        """Raw model call: float32 (n, 3, 224, 224) -> float32 (n, 1280)."""
        return self.session.run(None, {IMAGE_INPUT: pixels.astype(np.float32, copy=False)})[0]

    def embed(self, batch: PixelBatch) -> Embeddings:
        """Embed the valid rows of ``batch``; rows with an error stay zeros."""
        vectors = np.zeros((len(batch.errors), self.dim), dtype=np.float32)
        valid = [i for i, e in enumerate(batch.errors) if e is None]
        if valid:
            vectors[valid] = self.run(batch.pixels[valid])
        return Embeddings(vectors, list(batch.errors))
