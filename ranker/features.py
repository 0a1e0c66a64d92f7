"""Item features for training: extracted once by ``encoders`` (in-process ONNX Runtime) and cached on disk."""

from __future__ import annotations

from pathlib import Path

from ranker.model.catalogue import Catalogue


def cached_item_features(items_csv: Path, cache_dir: Path, progress: bool = True) -> Catalogue:
    """The feature set for ``items_csv``, from ``cache_dir`` when it is current, else extracted into it.

    A cache written by an extraction records the fingerprint of what it was made from (the items file, the text
    fields and the encoders); it is reused only while that fingerprint matches, so other items or encoders in the
    same folder are never paired with stale matrices (extraction resumes from finished chunks). A feature set
    saved without an extraction record (``encoders.features.save_features`` by hand) is taken as given.
    Callers align the result to their item order, which fails loudly when an item has no features.
    """
    from encoders.extract import STATE_FILE, extract_item_features
    from encoders.features import features_complete, load_features

    if features_complete(cache_dir) and not (Path(cache_dir) / STATE_FILE).exists():
        return Catalogue.from_features(load_features(cache_dir))
    return Catalogue.from_features(extract_item_features(items_csv, cache_dir, progress=progress))
