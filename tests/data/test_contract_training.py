"""Tiny end-to-end trainings by ``recmodel.train`` from contract folders: text only, images only (real encoders)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from recmodel import train as train_cli
from recmodel.model.catalogue import Catalogue
from tests.data.conftest import write_contract_dataset
from tests.model.conftest import TINY


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _check(out: Path, events: Path) -> Catalogue:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["format"] == "contract" and metrics["data"]["events"] == str(events)
    assert len(metrics["data"]["key"]) == 64
    assert 0.0 <= metrics["test"]["warm"]["ndcg@10"] <= 1.0 and metrics["best_epoch"] >= 1
    return Catalogue.load(out / "catalogue.npz")


def test_text_only_csv_in_seconds_trains_from_events_and_items_flags(tmp_path: Path, encoders_ready: None) -> None:
    rename = {"user_id": "customer", "timestamp": "when"}
    events, items = write_contract_dataset(tmp_path / "shop", images=False, time_unit="s", columns=rename)
    out = tmp_path / "model"
    argv = ["--config", str(_config(tmp_path)), "--out", str(out), "--features", str(tmp_path / "features")]
    argv += ["--events", str(events), "--items", str(items), "--time-unit", "s"]
    argv += ["--columns", "user_id=customer,timestamp=when"]
    train_cli.main(argv)
    catalogue = _check(out, events)
    assert catalogue.has_text.all() and not catalogue.has_image.any()


def test_image_only_parquet_trains_from_a_dataset_yaml(tmp_path: Path, encoders_ready: None) -> None:
    folder = tmp_path / "posters"
    events, _ = write_contract_dataset(folder, fmt="parquet", texts=False, columns={"image": "picture"})
    (folder / "dataset.yaml").write_text(yaml.safe_dump({"item_columns": {"image": "picture"}, "text_fields": []}))
    out = tmp_path / "model"
    argv = ["--config", str(_config(tmp_path)), "--out", str(out), "--features", str(tmp_path / "features")]
    train_cli.main([*argv, "--data", str(folder)])
    catalogue = _check(out, events)
    assert not catalogue.has_text.any() and catalogue.has_image.sum() == 17
    np.testing.assert_array_equal(catalogue.text, 0)
