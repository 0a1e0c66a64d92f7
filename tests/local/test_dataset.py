"""The demo's data fallback: RecBole's ml-100k atomic files → the ml100k-mm CSV layout."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from deploy.local.dataset import convert_recbole, resolve_dataset

INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "2\t10\t4\t881250950\n"
    "1\t20\t3\t881250949\n"
    "1\t30\t5\t881250949\n"
    "1\t10\t1\t881250900\n"
)
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "10\tToy Story\t1995\tAnimation Children's Comedy\n"
    "20\tGoldenEye\t1995\tAction Adventure Thriller\n"
    "30\tUntitled\t\t\n"
)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_convert_orders_by_user_then_time_keeping_file_order_for_ties(tmp_path: Path) -> None:
    convert_recbole(INTER, ITEM, tmp_path)
    events = rows(tmp_path / "interactions.csv")
    assert [(e["user_id"], e["item_id"], e["timestamp"]) for e in events] == [
        ("1", "10", "881250900"),
        ("1", "20", "881250949"),  # tie with item 30: file order kept
        ("1", "30", "881250949"),
        ("2", "10", "881250950"),
    ]
    assert events[0]["rating"] == "1.0"
    items = rows(tmp_path / "items.csv")
    assert items[0] == {
        "item_id": "10", "title": "Toy Story", "year": "1995",
        "genres": "Animation|Children's|Comedy", "plot": "", "image": "",
    }  # fmt: skip
    assert items[2]["genres"] == "" and items[2]["year"] == ""


def test_resolve_prefers_the_multimodal_folder_then_an_existing_copy(tmp_path: Path) -> None:
    preferred, fallback = tmp_path / "mm", tmp_path / "copy"
    convert_recbole(INTER, ITEM, fallback)
    assert resolve_dataset(preferred, fallback) == fallback
    convert_recbole(INTER, ITEM, preferred)
    assert resolve_dataset(preferred, fallback) == preferred


@pytest.mark.integration
def test_fallback_fetches_ml100k_from_the_recbole_wheel(tmp_path: Path) -> None:
    data = resolve_dataset(tmp_path / "absent", tmp_path / "ml100k")
    events = rows(data / "interactions.csv")
    items = rows(data / "items.csv")
    assert len(events) == 100_000
    assert len({e["user_id"] for e in events}) == 943
    assert len(items) == 1682
    assert items[0]["title"] == "Toy Story" and items[0]["image"] == ""
    stamps = [(int(e["user_id"]), int(e["timestamp"])) for e in events]
    assert stamps == sorted(stamps)
