"""Item features for training: extracted once by ``encoders`` (in-process ONNX Runtime) and cached on disk."""

from __future__ import annotations

from pathlib import Path

from ranker.model.catalogue import Catalogue


def cached_item_features(items_csv: Path, cache_dir: Path, progress: bool = True) -> Catalogue:
    """Load the feature set cached in ``cache_dir``, extracting it first when the folder holds none.

    Extraction (``encoders.extract``, in-process ONNX Runtime) is resumable; delete ``cache_dir`` to force a
    new one after the items or encoders change. Callers align the result to their item order, which fails
    loudly when an item has no features.
    """
    from encoders.features import features_complete, load_features

    if features_complete(cache_dir):
        return Catalogue.from_features(load_features(cache_dir))
    from encoders.extract import extract_item_features

    return Catalogue.from_features(extract_item_features(items_csv, cache_dir, progress=progress))
