"""Contract loaders: CSV and Parquet, s and ms, configurable columns, errors naming file, row and column."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from recmodel.data.contract import DatasetError
from recmodel.data.loaders import load_dataset, load_events, load_items, load_ml100k_mm
from recmodel.data.source import (
    DatasetConfig,
    EventColumns,
    ItemColumns,
    add_data_arguments,
    dataset_from_args,
    dataset_from_path,
    resolve_dataset,
)
from recmodel.settings import RankerPaths
from recmodel.training.config import ExperimentConfig
from tests.data.conftest import N_ITEMS, write_contract_dataset


def _events(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_seconds_and_parquet_milliseconds_load_the_same_dataset(tmp_path: Path) -> None:
    csv = load_dataset(
        dataset_from_path(write_contract_dataset(tmp_path / "a", time_unit="s")[0].parent, DatasetConfig(time_unit="s"))
    )
    pq = load_dataset(dataset_from_path(write_contract_dataset(tmp_path / "b", fmt="parquet")[0].parent))
    assert np.array_equal(csv.events.timestamps_ms, pq.events.timestamps_ms)
    assert csv.events.timestamps_ms.dtype == np.int64 and csv.events.timestamps_ms.min() >= 1_600_000_000_000
    assert csv.events.user_ids.tolist() == pq.events.user_ids.tolist()
    assert csv.events.domains.tolist()[0] == "books" and pq.events.event_types.tolist()[0] == "view"
    assert csv.items.item_ids == pq.items.item_ids and len(csv.items) == N_ITEMS
    assert csv.items.text_fields == pq.items.text_fields
    assert list(csv.items.text_fields) == ["title", "description"]  # default: every column but id and image
    assert csv.items.image_paths[3] is None and csv.items.image_paths[0].endswith("a/images/0.png")
    assert Path(pq.items.image_paths[0]).is_file()


def test_parquet_native_types_and_timestamp_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "user_id": [7, 8],
            "item_id": [1.0, 2.0],  # integral floats are ids "1" and "2"
            "timestamp": pd.to_datetime(["2020-01-01T00:00:00Z", "2020-01-01T00:00:01.500Z"], format="ISO8601"),
        }
    ).to_parquet(path)
    events = load_events(path, time_unit="s")  # a timestamp type carries its own unit
    assert events.user_ids.tolist() == ["7", "8"] and events.item_ids.tolist() == ["1", "2"]
    assert events.timestamps_ms.tolist() == [1_577_836_800_000, 1_577_836_801_500]


def test_column_names_are_configurable(tmp_path: Path) -> None:
    rename = {"user_id": "uid", "item_id": "sku", "timestamp": "ts", "image": "poster", "domain": "shop"}
    events, _ = write_contract_dataset(tmp_path, columns=rename)
    (tmp_path / "dataset.yaml").write_text(
        yaml.safe_dump(
            {
                "columns": {"user_id": "uid", "item_id": "sku", "timestamp": "ts", "domain": "shop"},
                "item_columns": {"item_id": "sku", "image": "poster"},
                "text_fields": ["title"],
            }
        )
    )
    dataset = load_dataset(dataset_from_path(tmp_path))
    assert dataset.events.user_ids[0] == "user0" and dataset.events.domains[0] == "books"
    assert list(dataset.items.text_fields) == ["title"] and dataset.items.image_paths[0] is not None
    # without the mapping the standard names are missing: the error names the file and the columns
    with pytest.raises(DatasetError, match=r"events\.csv: missing column\(s\) \['user_id', 'item_id', 'timestamp'\]"):
        load_events(events)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("user_id,item_id,timestamp\nu,a,1\nu,b,\n", r"events\.csv: row 2, column 'timestamp': empty timestamp"),
        (
            "user_id,item_id,timestamp\nu,a,1\nu,b,soon\nu,c,x\n",
            r"row 2, column 'timestamp': timestamp 'soon' is not a number .*\(2 rows like this\)",
        ),
        ("user_id,item_id,timestamp\nu,a,1\nu,b,-5\n", r"row 2, column 'timestamp': negative timestamp -5"),
        ("user_id,item_id,timestamp\nu,a,1\n,b,2\n", r"row 2, column 'user_id': empty id"),
        ("user_id,item_id\nu,a\n", r"missing column\(s\) \['timestamp'\]"),
    ],
)
def test_bad_event_rows_name_file_row_and_column(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_events(_events(tmp_path, content))


def test_bad_rows_in_parquet_are_named_too(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": [5.0, np.nan]}).to_parquet(path)
    with pytest.raises(DatasetError, match=r"events\.parquet: row 2, column 'timestamp': empty timestamp"):
        load_events(path)


def test_a_configured_optional_column_must_exist(tmp_path: Path) -> None:
    path = _events(tmp_path, "user_id,item_id,timestamp\nu,a,1\n")
    assert load_events(path).domains is None  # the default name may be absent
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['shop'\]"):
        load_events(path, columns=EventColumns(domain="shop"))


def test_duplicate_item_ids_name_both_rows(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,title\na,A\nb,B\na,A again\n")
    with pytest.raises(
        DatasetError, match=r"items\.csv: row 3, column 'item_id': duplicate item id 'a' \(first at row 1\)"
    ):
        load_items(path, text_fields=["title"])


def test_unknown_items_fail_or_are_dropped_with_a_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "items.csv").write_text("item_id,title\na,A\nb,B\n")
    _events(tmp_path, "user_id,item_id,timestamp\nu,a,1\nu,zz,2\nv,zz,3\nv,b,4\n")
    with pytest.raises(DatasetError, match=r"events\.csv: row 2, column 'item_id': item 'zz' is not in .*items\.csv"):
        load_dataset(dataset_from_path(tmp_path))
    with caplog.at_level(logging.WARNING):
        dataset = load_dataset(dataset_from_path(tmp_path, DatasetConfig(unknown_items="drop")))
    assert dataset.events.item_ids.tolist() == ["a", "b"] and dataset.events.timestamps_ms.tolist() == [1, 4]
    assert "dropped 2 event(s) of 1 item id(s)" in caplog.text


def test_missing_image_files_warn_or_fail(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_contract_dataset(tmp_path)
    (tmp_path / "images" / "0.png").unlink()
    with caplog.at_level(logging.WARNING):
        items = load_items(tmp_path / "items.csv", None)
    assert items.image_paths[0] is None and items.image_paths[1] is not None
    assert "column 'image': 1 image path(s) are not files (first at row 1" in caplog.text
    with pytest.raises(DatasetError, match=r"items\.csv: row 1, column 'image': image 'images/0\.png' is not a file"):
        load_items(tmp_path / "items.csv", None, ItemColumns(), missing_images="error")


def test_datasets_without_texts_or_images_load(tmp_path: Path) -> None:
    no_images = load_dataset(dataset_from_path(write_contract_dataset(tmp_path / "t", images=False)[0].parent))
    assert no_images.items.image_paths == [] and no_images.items.text_fields["title"][0].startswith("Item 0")
    no_texts = load_dataset(dataset_from_path(write_contract_dataset(tmp_path / "i", texts=False)[0].parent))
    assert no_texts.items.text_fields == {} and no_texts.items.image_paths[0] is not None


def test_format_detection_and_ml100k_preset(tmp_path: Path) -> None:
    write_contract_dataset(tmp_path / "contract")
    assert dataset_from_path(tmp_path / "contract").format == "contract"
    ml = tmp_path / "ml"
    ml.mkdir()
    (ml / "interactions.csv").write_text("user_id,item_id,rating,timestamp\n1,1,5,100\n1,2,5,101\n")
    (ml / "items.csv").write_text("item_id,title,year,genres,plot,image\n1,a,1,Drama,,\n2,b,1,Drama,,\n")
    resolved = dataset_from_path(ml)
    assert (resolved.format, resolved.name, resolved.time_unit) == ("ml100k-mm", "ml100k-mm", "s")
    assert resolved.text_fields == ["title", "genres", "plot"]
    assert load_ml100k_mm(ml).events.timestamps_ms.tolist() == [100_000, 101_000]
    # the legacy spelling of the experiment config still validates
    assert ExperimentConfig.model_validate({"data": {"dataset": "ml100k-mm"}}).data.dataset.format == "ml100k-mm"
    with pytest.raises(DatasetError, match=r"events\.csv: file not found"):
        load_dataset(resolve_dataset(DatasetConfig(format="contract"), ml))


def _parse(argv: list[str], default: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_data_arguments(parser, default)
    return parser.parse_args(argv)


def test_command_line_flags_describe_any_contract_dataset(tmp_path: Path) -> None:
    rename = {"user_id": "uid", "timestamp": "ts", "image": "picture"}
    events, items = write_contract_dataset(tmp_path / "shop", fmt="parquet", time_unit="s", columns=rename)
    argv = ["--events", str(events), "--items", str(items), "--time-unit", "s"]
    argv += ["--columns", "user_id=uid,timestamp=ts", "--image-column", "picture", "--text-fields", "title"]
    resolved = dataset_from_args(_parse(argv, tmp_path / "nowhere"))
    assert (resolved.format, resolved.name, resolved.events, resolved.time_unit) == ("contract", "shop", events, "s")
    dataset = load_dataset(resolved)
    assert dataset.events.timestamps_ms.min() >= 1_600_000_000_000 and dataset.items.image_paths[0] is not None
    assert list(dataset.items.text_fields) == ["title"]
    # --events alone: the items (and a dataset.yaml, if any) come from the events file's folder, not the default
    alone = dataset_from_args(_parse(["--events", str(events)], tmp_path / "nowhere"))
    assert alone.items == items and alone.format == "contract"
    assert dataset_from_args(_parse([], tmp_path / "shop")).events == events
    no_text = dataset_from_args(_parse([*argv[:-1], ""], tmp_path))
    assert no_text.text_fields == []
    with pytest.raises(DatasetError, match="unknown column key 'userid'"):
        dataset_from_args(_parse(["--columns", "userid=x"], tmp_path))


@pytest.mark.skipif(not (RankerPaths().data_dir / "interactions.csv").exists(), reason="ml100k-mm not present")
def test_the_real_ml100k_mm_folder_is_read_as_before() -> None:
    dataset = load_dataset(dataset_from_path(RankerPaths().data_dir))
    assert dataset.name == "ml100k-mm" and len(dataset.events) == 100_000 and len(dataset.items) == 1_682
    assert dataset.events.timestamps_ms[0] % 1000 == 0 and dataset.events.domains is None
    assert sum(p is not None for p in dataset.items.image_paths) == 1_645
    assert list(dataset.items.text_fields) == ["title", "genres", "plot"]
