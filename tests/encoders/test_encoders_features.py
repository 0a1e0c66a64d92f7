"""The ItemFeatures contract, its files, and resumable extraction from an items.csv."""

import shutil

import numpy as np
import pandas as pd
import pytest

from encoders.extract import PARTS_DIR, extract_item_features
from encoders.features import ItemFeatures, load_features, save_features
from encoders.item_text import build_item_text


def _features(n: int) -> ItemFeatures:
    rng = np.random.default_rng(n)
    return ItemFeatures(
        item_ids=[str(i) for i in range(n)],
        text=rng.standard_normal((n, 384)).astype(np.float32),
        image=rng.standard_normal((n, 1280)).astype(np.float32),
        has_text=np.ones(n, bool),
        has_image=np.arange(n) % 2 == 0,
    )


def test_save_and_load_round_trip(tmp_path):
    original = _features(5)
    save_features(original, tmp_path)
    loaded = load_features(tmp_path)
    assert loaded.item_ids == original.item_ids
    for name in ("text", "image", "has_text", "has_image"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(original, name))


def test_contract_violations_name_the_field(tmp_path):
    bad = _features(3)
    bad.image = bad.image[:, :10]
    with pytest.raises(ValueError, match=r"^image: expected float32\(3, 1280\)"):
        save_features(bad, tmp_path)
    with pytest.raises(FileNotFoundError, match="no complete feature set"):
        load_features(tmp_path)


@pytest.fixture
def small_catalogue(tmp_path, make_items_csv, synthetic_images):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "10.jpg").write_bytes(synthetic_images[0])
    (tmp_path / "images" / "11.png").write_bytes(synthetic_images[1])
    (tmp_path / "images" / "13.jpg").write_bytes(b"\xff\xd8 broken")
    rows = [
        {
            "item_id": "10",
            "title": "Heat",
            "year": "1995",
            "genres": "Action|Crime",
            "plot": "A heist.",
            "image": "images/10.jpg",
        },
        {"item_id": "11", "title": "Casino", "year": "1995", "genres": "Drama", "plot": "", "image": "images/11.png"},
        {"item_id": "12", "title": "Clerks", "year": "1994", "genres": "Comedy", "plot": "A day at work.", "image": ""},
        {
            "item_id": "13",
            "title": "Fargo",
            "year": "1996",
            "genres": "Crime",
            "plot": "Snow.",
            "image": "images/13.jpg",
        },
        {"item_id": "14", "title": "", "year": "", "genres": "", "plot": "", "image": "images/missing.jpg"},
    ]
    return make_items_csv(tmp_path, rows), rows


def test_extraction_aligns_rows_and_masks_missing_modalities(small_catalogue, inprocess, synthetic_images, tmp_path):
    items_csv, rows = small_catalogue
    out = tmp_path / "features"
    features = extract_item_features(items_csv, out, batch_size=2, progress=False)
    assert features.item_ids == ["10", "11", "12", "13", "14"]
    assert features.has_text.tolist() == [True, True, True, True, False]
    assert features.has_image.tolist() == [True, True, False, False, False]
    texts = [build_item_text(r, ("title", "genres", "plot")) for r in rows[:4]]
    assert np.abs(features.text[:4] - inprocess.embed_texts(texts).vectors).max() < 1e-5
    assert np.abs(features.image[:2] - inprocess.embed_images(synthetic_images[:2]).vectors).max() < 1e-5
    np.testing.assert_array_equal(features.text[4], 0)
    np.testing.assert_array_equal(features.image[2:], 0)
    loaded = load_features(out)
    np.testing.assert_array_equal(loaded.text, features.text)


def test_extraction_resumes_from_finished_chunks(small_catalogue, tmp_path, monkeypatch):
    items_csv, _ = small_catalogue
    out = tmp_path / "features"
    first = extract_item_features(items_csv, out, progress=False)
    (out / "features.json").unlink()  # as if interrupted after the chunk files were written
    part = next((out / PARTS_DIR).glob("part-*.npz"))
    stamp = part.stat().st_mtime_ns
    again = extract_item_features(items_csv, out, progress=False)
    assert part.stat().st_mtime_ns == stamp  # reused, not recomputed
    np.testing.assert_array_equal(again.text, first.text)
    shutil.rmtree(out / PARTS_DIR)
    (out / "features.json").unlink()
    rebuilt = extract_item_features(items_csv, out, progress=False)
    assert np.abs(rebuilt.image - first.image).max() < 1e-6


def test_extraction_restarts_when_the_text_fields_change(small_catalogue, tmp_path):
    items_csv, _ = small_catalogue
    out = tmp_path / "features"
    full = extract_item_features(items_csv, out, progress=False)
    titles = extract_item_features(items_csv, out, text_fields=("title",), progress=False)
    assert titles.has_text.tolist() == [True, True, True, True, False]
    assert np.abs(titles.text[0] - full.text[0]).max() > 1e-3


def test_missing_column_is_named(tmp_path, make_items_csv):
    items_csv = make_items_csv(tmp_path, [{"item_id": "1", "title": "x"}])
    with pytest.raises(ValueError, match="missing column"):
        extract_item_features(items_csv, tmp_path / "out", text_fields=("title", "summary"), progress=False)


def test_ranker_feature_cache_is_extracted_again_for_other_items(small_catalogue, tmp_path):
    """recmodel.features reuses an extraction's cache only for the items it was made from (real encoders)."""
    from recmodel.features import cached_item_features

    items_csv, _ = small_catalogue
    cache = tmp_path / "cache"
    first = cached_item_features(items_csv, cache, progress=False)
    assert first.item_ids == ["10", "11", "12", "13", "14"]
    again = cached_item_features(items_csv, cache, progress=False)
    np.testing.assert_array_equal(again.text, first.text)
    rows = pd.read_csv(items_csv, dtype=str, keep_default_na=False)
    rows.loc[rows["item_id"] == "12", "title"] = "Mallrats"  # the same ids, other content
    rows.iloc[:4].to_csv(items_csv, index=False)  # and item 14 gone
    changed = cached_item_features(items_csv, cache, progress=False)
    assert changed.item_ids == ["10", "11", "12", "13"]
    assert np.abs(changed.text[2] - first.text[2]).max() > 1e-3
    np.testing.assert_allclose(changed.text[0], first.text[0], atol=1e-6)
