"""ONNX artifacts cached under the build folder, keyed by a content hash of weights, code and toolchain."""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from encoders import image_model, onnx_export, text_model, weights
from encoders.names import IMAGE_ONNX, TEXT_ONNX

LOG = logging.getLogger(__name__)
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class OnnxArtifacts:
    """Paths of the exported encoders and the content hash they were built from."""

    text: Path
    image: Path
    content_hash: str


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_hash(opset: int) -> str:
    """Hash of everything an export depends on: weights, model/export source, torch version and opset."""
    digest = hashlib.sha256()
    for path in (weights.minilm_dir() / "model.safetensors", weights.efficientnet_lite0_weights()):
        digest.update(_file_digest(path).encode())
    for module in (text_model, image_model, onnx_export):
        digest.update(Path(inspect.getfile(module)).read_bytes())
    digest.update(f"torch={torch.__version__};opset={opset}".encode())
    return digest.hexdigest()


def export_all(out_dir: Path, opset: int, image_size: int = 224) -> OnnxArtifacts:
    """Export both encoders into ``out_dir`` (atomically per file) and write a manifest."""
    key = content_hash(opset)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = onnx_export.export_text_encoder(out_dir / TEXT_ONNX, opset)
    image = onnx_export.export_image_encoder(out_dir / IMAGE_ONNX, opset, image_size)
    manifest = {"content_hash": key, "opset": opset, "torch": torch.__version__, "files": [TEXT_ONNX, IMAGE_ONNX]}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return OnnxArtifacts(text, image, key)


def ensure_onnx_artifacts(cache_root: Path, opset: int = 18, image_size: int = 224) -> OnnxArtifacts:
    """Return cached exports for the current content hash, exporting once if missing (process-safe)."""
    key = content_hash(opset)
    folder = cache_root / key[:16]
    cache_root.mkdir(parents=True, exist_ok=True)
    with (cache_root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = folder / MANIFEST
        if not (manifest.exists() and json.loads(manifest.read_text()).get("content_hash") == key):
            LOG.info("exporting ONNX encoders", extra={"folder": str(folder), "content_hash": key[:16]})
            export_all(folder, opset, image_size)
            for stale in cache_root.iterdir():  # exports of older weights/code are never used again
                if stale.is_dir() and stale != folder:
                    shutil.rmtree(stale, ignore_errors=True)
    return OnnxArtifacts(folder / TEXT_ONNX, folder / IMAGE_ONNX, key)
