"""Feature and evaluation-run caches are keyed by the data's content: switching data never reuses a stale cache.

The features are extracted by the real in-process encoders (ONNX Runtime), as training does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from encoders.inprocess import InProcessEncoders
from encoders.item_text import build_item_text
from recmodel import evaluate as evaluate_cli
from recmodel.data.source import dataset_from_path
from recmodel.training.config import ExperimentConfig
from recmodel.training.experiment import prepare_dataset
from tests.data.conftest import write_contract_dataset
from tests.model.conftest import TINY

CFG = ExperimentConfig.model_validate({**TINY, "data": {"max_len": 10}})


@pytest.fixture(scope="module")
def encoders(encoders_ready: None) -> InProcessEncoders:
    return InProcessEncoders()


def _texts(items_csv: Path) -> list[str]:
    rows = pd.read_csv(items_csv, dtype=str, keep_default_na=False).to_dict("records")
    return [build_item_text(r, ("title", "description")) for r in rows]


def test_switching_data_in_one_cache_root_never_reuses_features(tmp_path: Path, encoders: InProcessEncoders) -> None:
    cache = tmp_path / "features"
    a_events, _ = write_contract_dataset(tmp_path / "a" / "shop", seed=0)
    b_events, b_items = write_contract_dataset(tmp_path / "b" / "shop", seed=1)  # same name, ids and columns
    a = prepare_dataset(CFG, a_events.parent, cache, progress=False)
    b = prepare_dataset(CFG, b_events.parent, cache, progress=False)
    assert a.source.name == b.source.name == "shop" and a.key != b.key
    assert a.catalogue.item_ids == b.catalogue.item_ids
    # B's matrices are B's own: its texts and images as the encoders embed them, not A's
    order = [int(i.removeprefix("sku")) for i in b.catalogue.item_ids]
    expected = encoders.embed_texts([_texts(b_items)[i] for i in order]).vectors
    np.testing.assert_allclose(b.catalogue.text, expected, atol=1e-5)
    assert np.abs(a.catalogue.text - b.catalogue.text).max() > 1e-2
    row = b.catalogue.item_ids.index("sku0")
    image = encoders.embed_images([(b_events.parent / "images" / "0.png").read_bytes()]).vectors[0]
    np.testing.assert_allclose(b.catalogue.image[row], image, atol=1e-5)
    assert np.abs(a.catalogue.image[row] - image).max() > 1e-3
    assert len(list(cache.iterdir())) == 2
    # A again: its own cache, nothing re-extracted
    stamps = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    again = prepare_dataset(CFG, a_events.parent, cache, progress=False)
    assert again.key == a.key and {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")} == stamps
    np.testing.assert_array_equal(again.catalogue.text, a.catalogue.text)


def test_a_changed_file_invalidates_and_a_moved_one_does_not(tmp_path: Path, encoders_ready: None) -> None:
    cache = tmp_path / "features"
    events, items = write_contract_dataset(tmp_path / "shop")
    first = prepare_dataset(CFG, events.parent, cache, progress=False)
    row = first.catalogue.item_ids.index("sku1")

    table = pd.read_csv(items, dtype=str, keep_default_na=False)
    table.loc[1, "title"] = "A field guide to mushrooms"  # same id, same file name, other text
    table.to_csv(items, index=False)
    text_changed = prepare_dataset(CFG, events.parent, cache, progress=False)
    assert text_changed.key != first.key
    assert np.abs(text_changed.catalogue.text[row] - first.catalogue.text[row]).max() > 1e-2
    np.testing.assert_allclose(text_changed.catalogue.image, first.catalogue.image, atol=1e-6)

    Image.new("RGB", (40, 30), (250, 10, 10)).save(events.parent / "images" / "1.png")  # same path, other pixels
    image_changed = prepare_dataset(CFG, events.parent, cache, progress=False)
    assert image_changed.key != text_changed.key
    assert np.abs(image_changed.catalogue.image[row] - text_changed.catalogue.image[row]).max() > 1e-3

    ev = pd.read_csv(events, dtype=str, keep_default_na=False)
    ev.iloc[: len(ev) - 5].to_csv(events, index=False)  # other events, the same items: features are reused
    folders = set(cache.iterdir())
    events_changed = prepare_dataset(CFG, events.parent, cache, progress=False)
    assert events_changed.key != image_changed.key and set(cache.iterdir()) == folders

    moved = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(events.parent, moved)
    relocated = prepare_dataset(CFG, moved, cache, progress=False)
    # another name gets its own folder, but the content key (what run caches use) is unchanged
    assert relocated.key == events_changed.key
    np.testing.assert_array_equal(relocated.catalogue.text, events_changed.catalogue.text)


def test_evaluation_runs_are_never_reused_across_datasets(tmp_path: Path, encoders_ready: None) -> None:
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": 1}}))
    eval_cfg = tmp_path / "eval.yaml"
    eval_cfg.write_text(
        yaml.safe_dump(
            {
                "seeds": [0],
                "models": {"tiny": "tiny.yaml"},
                "run_cache": str(tmp_path / "runs"),
            }
        )
    )
    a = write_contract_dataset(tmp_path / "a" / "shop", seed=0)[0].parent
    b = write_contract_dataset(tmp_path / "b" / "shop", seed=1)[0].parent
    common = ["--config", str(eval_cfg), "--features", str(tmp_path / "features"), "--report", str(tmp_path / "r")]
    runs = tmp_path / "runs"

    evaluate_cli.main([*common, "--data", str(a)])
    first = sorted(runs.glob("*.json"))
    report_a = json.loads((tmp_path / "r.json").read_text())
    evaluate_cli.main([*common, "--data", str(b)])  # same folder name, config and seed: still a new run
    assert len(list(runs.glob("*.json"))) == 2 * len(first) == 2
    report_b = json.loads((tmp_path / "r.json").read_text())
    assert report_b["tiny"]["warm"] != report_a["tiny"]["warm"]
    stamps = {p: p.stat().st_mtime_ns for p in runs.glob("*.json")}
    evaluate_cli.main([*common, "--data", str(a)])  # A's run is A's: reused, nothing trained
    assert {p: p.stat().st_mtime_ns for p in runs.glob("*.json")} == stamps
    assert json.loads((tmp_path / "r.json").read_text()) == report_a


def test_features_of_a_modality_the_data_lacks_are_absent(tmp_path: Path, encoders_ready: None) -> None:
    cache = tmp_path / "features"
    text_only = prepare_dataset(CFG, write_contract_dataset(tmp_path / "t", images=False)[0].parent, cache, False)
    assert text_only.catalogue.has_text.all() and not text_only.catalogue.has_image.any()
    np.testing.assert_array_equal(text_only.catalogue.image, 0)
    image_only = prepare_dataset(CFG, write_contract_dataset(tmp_path / "i", texts=False)[0].parent, cache, False)
    assert not image_only.catalogue.has_text.any()
    # items whose image path is empty (every 7th from 3) have no image either
    has_image = dict(zip(image_only.catalogue.item_ids, image_only.catalogue.has_image, strict=True))
    assert not has_image["sku3"] and has_image["sku0"] and sum(has_image.values()) == 17
    assert dataset_from_path(tmp_path / "i").text_fields is None  # every column: only item_id and image here
