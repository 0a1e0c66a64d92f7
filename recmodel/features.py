"""Item features for training: extracted once by ``encoders`` (in-process ONNX Runtime) and cached on disk.

A dataset's features live in ``<cache root>/<dataset name>-<key>``, where the key is a sha256 over every item's id,
text fields and image bytes and the encoders' identity (weights, model and pre-processing code, settings): other
items, texts, images or encoders never meet a stale cache, whatever the folder or dataset name.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from recmodel.data.contract import Dataset, Items
from recmodel.data.identity import file_digest, image_digests
from recmodel.model.catalogue import Catalogue

LOG = logging.getLogger(__name__)
KEY_FILE = "feature_key.json"
ITEMS_FILE = "items.csv"  # the items as the extractor reads them (id, text fields, absolute image paths)
_RESERVED = ("item_id", "image")


@dataclass(frozen=True)
class FeatureSet:
    """A dataset's item features, where they are cached and the key they are cached under."""

    catalogue: Catalogue
    folder: Path
    key: str


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


@lru_cache(maxsize=1)
def encoder_identity() -> dict[str, str | int]:
    """What item vectors depend on besides the items: the ONNX export's content hash and the pre-processing."""
    import encoders.image_preprocessing
    import encoders.item_text
    import encoders.tokenization
    from encoders.artifacts import content_hash
    from encoders.settings import EncoderSettings

    settings = EncoderSettings()
    code = hashlib.sha256()
    for module in (encoders.item_text, encoders.tokenization, encoders.image_preprocessing):
        code.update(Path(module.__file__).read_bytes())  # type: ignore[arg-type]
    return {
        "onnx": content_hash(settings.onnx_opset),
        "preprocessing": code.hexdigest(),
        "text_max_tokens": settings.text_max_tokens,
        "image_size": settings.image_size,
        "max_image_bytes": settings.max_image_bytes,
        "max_image_pixels": settings.max_image_pixels,
    }


def _text_column(name: str) -> str:
    """The extractor reads ``item_id`` and ``image`` itself: a text field of either name is renamed."""
    return f"{name}_text" if name in _RESERVED else name


def _extractor_table(items: Items) -> pd.DataFrame:
    table = {"item_id": items.item_ids}
    for name, values in items.text_fields.items():
        table[_text_column(name)] = values
    table["image"] = [p or "" for p in items.image_paths] if items.image_paths else [""] * len(items)
    return pd.DataFrame(table, dtype=str)


def feature_key(items: Items) -> str:
    """sha256 over the encoders' identity, the text field names and every item's id, texts and image bytes."""
    digest = hashlib.sha256(json.dumps({"encoders": encoder_identity(), "fields": list(items.text_fields)}).encode())
    table = _extractor_table(items).drop(columns="image").assign(image=image_digests(items))
    digest.update(table.to_csv(index=False).encode())
    return digest.hexdigest()


def _hand_saved(folder: Path) -> bool:
    from encoders.extract import STATE_FILE
    from encoders.features import features_complete

    return features_complete(folder) and not (folder / STATE_FILE).exists()


def _folder_key(folder: Path) -> str:
    digest = hashlib.sha256(b"given")
    for path in [*sorted(folder.glob("*.npy")), folder / "features.json"]:
        digest.update(path.name.encode() + file_digest(path).encode())
    return digest.hexdigest()


def dataset_item_features(dataset: Dataset, cache_root: Path, progress: bool = True) -> FeatureSet:
    """The dataset's item features from ``cache_root``, extracted there under their content key when missing.

    A feature set saved by hand (``encoders.features.save_features``, no extraction record) in
    ``<cache root>/<dataset name>`` is taken as given, keyed by its own bytes; nothing here ever writes there.
    """
    from encoders.extract import extract_item_features
    from encoders.features import features_complete, load_features

    cache_root = Path(cache_root)
    given = cache_root / dataset.name
    if _hand_saved(given):
        LOG.info("item features: the hand-saved set in %s", given)
        return FeatureSet(Catalogue.from_features(load_features(given)), given, _folder_key(given))
    key = feature_key(dataset.items)
    folder = cache_root / f"{dataset.name}-{key[:16]}"
    stored = json.loads((folder / KEY_FILE).read_text()).get("key") if (folder / KEY_FILE).exists() else None
    if stored == key and features_complete(folder):
        return FeatureSet(_checked(dataset.name, Catalogue.from_features(load_features(folder))), folder, key)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KEY_FILE).unlink(missing_ok=True)
    _extractor_table(dataset.items).to_csv(folder / ITEMS_FILE, index=False)
    fields = tuple(_text_column(name) for name in dataset.items.text_fields)
    LOG.info("item features: extracting %d items into %s", len(dataset.items), folder)
    features = extract_item_features(folder / ITEMS_FILE, folder, text_fields=fields, progress=progress)
    (folder / KEY_FILE).write_text(json.dumps({"key": key, "dataset": dataset.name}))
    return FeatureSet(_checked(dataset.name, Catalogue.from_features(features)), folder, key)


def _checked(name: str, catalogue: Catalogue) -> Catalogue:
    """Log a modality no item has: training goes on, every item is scored as served without it."""
    for modality, present in (("a text", catalogue.has_text), ("an image", catalogue.has_image)):
        if not present.any():
            LOG.warning("%s: no item has %s; every item is encoded as served without one", name, modality)
    return catalogue
