"""Aligned item feature matrices (text, image, presence masks) and their on-disk format."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.names import IMAGE_DIM, TEXT_DIM

FORMAT_VERSION = 1
_ARRAYS = ("text", "image", "has_text", "has_image")
META_FILE = "features.json"


@dataclass
class ItemFeatures:
    """Row i of every array describes ``item_ids[i]``; rows of absent modalities are zeros (see the masks)."""

    item_ids: list[str]  # row order
    text: np.ndarray  # (N, 384) float32, L2-normalised; zeros where has_text is False
    image: np.ndarray  # (N, 1280) float32; zeros where has_image is False
    has_text: np.ndarray  # (N,) bool
    has_image: np.ndarray  # (N,) bool

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field whose shape or dtype breaks the contract."""
        n = len(self.item_ids)
        expected = {
            "text": ((n, TEXT_DIM), np.float32),
            "image": ((n, IMAGE_DIM), np.float32),
            "has_text": ((n,), np.bool_),
            "has_image": ((n,), np.bool_),
        }
        for name, (shape, dtype) in expected.items():
            array = getattr(self, name)
            if array.shape != shape or array.dtype != dtype:
                raise ValueError(f"{name}: expected {dtype.__name__}{shape}, got {array.dtype}{array.shape}")
        if len(set(self.item_ids)) != n:
            raise ValueError("item_ids: duplicate ids")


def save_features(features: ItemFeatures, out_dir: Path) -> None:
    """Write the arrays as .npy files plus ``features.json`` (ids, dims); the json is written last, atomically."""
    features.validate()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)
    for name in _ARRAYS:
        tmp = out_dir / f"{name}.tmp.npy"
        np.save(tmp, getattr(features, name))
        tmp.replace(out_dir / f"{name}.npy")
    meta = {
        "format_version": FORMAT_VERSION,
        "count": len(features.item_ids),
        "text_dim": TEXT_DIM,
        "image_dim": IMAGE_DIM,
        "item_ids": list(features.item_ids),
    }
    tmp = out_dir / f"{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta))
    tmp.replace(out_dir / META_FILE)


def features_complete(out_dir: Path) -> bool:
    """True when ``out_dir`` holds a fully written feature set."""
    return (Path(out_dir) / META_FILE).exists()


def load_features(out_dir: Path) -> ItemFeatures:
    """Read a feature set written by :func:`save_features` and check it against the contract."""
    out_dir = Path(out_dir)
    meta_path = out_dir / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path}: no complete feature set (run python -m encoders.extract)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{meta_path}: format_version {meta.get('format_version')} != {FORMAT_VERSION}")
    arrays = {name: np.load(out_dir / f"{name}.npy") for name in _ARRAYS}
    features = ItemFeatures(item_ids=[str(i) for i in meta["item_ids"]], **arrays)
    features.validate()
    return features
