"""Feature caches are never reused for other items: an extraction record whose fingerprint differs re-extracts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import encoders.extract as extract
from encoders.features import save_features
from ranker.features import cached_item_features
from tests.model.conftest import random_features


def test_hand_saved_features_are_taken_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_features(random_features(["1", "2", "3"]), tmp_path / "cache")
    monkeypatch.setattr(extract, "extract_item_features", lambda *a, **k: pytest.fail("must not re-extract"))
    assert cached_item_features(tmp_path / "items.csv", tmp_path / "cache").item_ids == ["1", "2", "3"]


def test_a_cache_made_from_other_items_is_extracted_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    save_features(random_features(["1", "2", "3"]), cache)
    (cache / extract.STATE_FILE).write_text(json.dumps({"fingerprint": "made-from-other-items"}))
    calls: list[Path] = []

    def fresh(items_csv: Path, out_dir: Path, *args: object, **kwargs: object):
        calls.append(Path(out_dir))
        return random_features(["7", "8"])

    monkeypatch.setattr(extract, "extract_item_features", fresh)
    assert cached_item_features(tmp_path / "items.csv", cache).item_ids == ["7", "8"]
    assert calls == [cache]
