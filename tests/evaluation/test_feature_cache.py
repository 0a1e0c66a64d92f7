"""A feature set saved by hand (no extraction record) is taken as given; the extraction case is tested with the
real encoders in tests/encoders/test_encoders_features.py."""

from __future__ import annotations

from pathlib import Path

from encoders.features import save_features
from ranker.features import cached_item_features
from tests.model.conftest import random_features


def test_hand_saved_features_are_taken_as_given(tmp_path: Path) -> None:
    save_features(random_features(["1", "2", "3"]), tmp_path / "cache")
    # no items file exists: any attempt to extract would fail
    assert cached_item_features(tmp_path / "no-items.csv", tmp_path / "cache").item_ids == ["1", "2", "3"]
