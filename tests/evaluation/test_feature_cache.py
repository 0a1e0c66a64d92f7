"""Feature caches: a set saved by hand (no extraction record) is taken as given, keyed by its own bytes; an
extraction is found only under the content key of the items it was made from (the extraction itself is tested
with the real encoders in tests/encoders/test_encoders_features.py; data switches in tests/data/test_cache_keys.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from encoders.features import save_features
from recmodel.features import cached_item_features
from tests.model.conftest import random_features


def test_hand_saved_features_are_taken_as_given(tmp_path: Path) -> None:
    save_features(random_features(["1", "2", "3"]), tmp_path / "cache")
    # no items file exists: any attempt to extract would fail
    assert cached_item_features(tmp_path / "no-items.csv", tmp_path / "cache").item_ids == ["1", "2", "3"]


def test_dataset_features_take_a_hand_saved_set_keyed_by_its_bytes(tmp_path: Path) -> None:
    from recmodel.data.loaders import load_dataset
    from recmodel.data.source import dataset_from_path
    from recmodel.features import dataset_item_features
    from tests.data.conftest import write_contract_dataset

    write_contract_dataset(tmp_path / "shop", texts=False, images=False)
    dataset = load_dataset(dataset_from_path(tmp_path / "shop"))
    save_features(random_features([str(i) for i in range(1, 4)]), tmp_path / "cache" / "shop")
    given = dataset_item_features(dataset, tmp_path / "cache")
    assert given.folder == tmp_path / "cache" / "shop" and given.catalogue.item_ids == ["1", "2", "3"]
    save_features(random_features([str(i) for i in range(1, 4)], seed=1), tmp_path / "cache" / "shop")
    assert dataset_item_features(dataset, tmp_path / "cache").key != given.key  # other matrices, other key


def test_an_extraction_in_the_old_name_only_folder_is_never_read(tmp_path: Path) -> None:
    """Before content keys, features lived in <root>/<dataset name>: another dataset of that name must not use them."""
    from recmodel.data.loaders import load_dataset
    from recmodel.data.source import dataset_from_path
    from recmodel.features import dataset_item_features
    from tests.data.conftest import write_contract_dataset

    _, items_a = write_contract_dataset(tmp_path / "a" / "shop", seed=0, images=False)
    from encoders.extract import extract_item_features

    old = extract_item_features(items_a, tmp_path / "cache" / "shop", ("title", "description"), progress=False)
    write_contract_dataset(tmp_path / "b" / "shop", seed=1, images=False)
    features = dataset_item_features(load_dataset(dataset_from_path(tmp_path / "b" / "shop")), tmp_path / "cache")
    assert features.folder.name.startswith("shop-") and features.folder != tmp_path / "cache" / "shop"
    assert np.abs(features.catalogue.aligned_to(old.item_ids).text - old.text).max() > 1e-2
