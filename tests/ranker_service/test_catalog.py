"""Item persistence (SQLite) and replica fan-out (a real Redis Stream)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest

from ranker.catalog.feature_table import FeatureTable
from ranker.catalog.item_catalog import ItemCatalog
from ranker.catalog.records import ItemRecord, decode_records, encode_records
from ranker.catalog.redis_feed import FeedEntry, FeedUnavailable, RedisItemFeed
from ranker.catalog.sqlite_store import SqliteItemStore
from recmodel.model.catalogue import Catalogue
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer, redis_available


def record(item_id: str, seed: int, image: bool = True, updated_ms: int = 1) -> ItemRecord:
    rng = np.random.default_rng(seed)
    text = rng.standard_normal(384).astype(np.float32)
    return ItemRecord(item_id, text, rng.standard_normal(1280).astype(np.float32) if image else None, "d", updated_ms)


def test_records_round_trip_through_the_wire_format() -> None:
    records = [record("a", 1), record("b", 2, image=False)]
    back = decode_records(encode_records(records))
    assert [r.item_id for r in back] == ["a", "b"]
    np.testing.assert_array_equal(back[0].image, records[0].image)
    assert back[1].image is None and back[1].domain == "d"
    with pytest.raises(ValueError, match="truncated"):
        decode_records(encode_records(records)[:-10])


def test_store_survives_reopen_with_upserts_deletes_and_cursor(tmp_path: Path) -> None:
    store = SqliteItemStore(tmp_path / "items.db")
    store.upsert([record("a", 1), record("b", 2)], cursor="5-0")
    store.delete(["b", "base-item"], cursor="6-0")
    store.close()
    reopened = SqliteItemStore(tmp_path / "items.db")
    live, deleted = reopened.load()
    assert [r.item_id for r in live] == ["a"] and sorted(deleted) == ["b", "base-item"]
    assert reopened.cursor() == "6-0"
    np.testing.assert_array_equal(live[0].text, record("a", 1).text)


def test_catalog_overlays_the_store_on_the_artifact_items(tmp_path: Path) -> None:
    store = SqliteItemStore(tmp_path / "items.db")
    store.upsert([record("new", 3, updated_ms=10)])
    store.delete(["base1"])
    base = FeatureTable.from_items(Catalogue(
        ["base0", "base1"], np.ones((2, 384), np.float32), np.ones((2, 1280), np.float32),
        np.ones(2, bool), np.array([True, False]),
    ))  # fmt: skip
    catalog = ItemCatalog.open(base, store)
    assert sorted(catalog.features.row_of) == ["base0", "new"]
    assert catalog.recent_ids() == ["new"]
    catalog.upsert([record("newer", 4, image=False, updated_ms=20)])
    row = catalog.features.row_of["newer"]
    assert catalog.features.has_text[row] and not catalog.features.has_image[row]
    assert catalog.recent_ids() == ["newer", "new"]
    assert catalog.delete(["new", "ghost"]) == ["new"]
    assert catalog.recent_ids() == ["newer"]


@pytest.mark.integration
@pytest.mark.skipif(not redis_available(), reason="redis-server is not installed")
async def test_feed_delivers_every_upsert_and_delete_in_order(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as redis:
        writer = RedisItemFeed(redis.url, "items", "replica-a", block_ms=100)
        reader = RedisItemFeed(redis.url, "items", "replica-b", block_ms=100)
        first = await writer.publish_upsert([record("a", 1)])
        seen: list[FeedEntry] = []

        async def handler(entry: FeedEntry) -> None:
            seen.append(entry)

        cursor = await reader.replay("0-0", handler)  # start-up replay
        assert cursor == first and [r.item_id for r in seen[0].records] == ["a"]
        reader.start_tailing(cursor, handler)
        await writer.publish_upsert([record("b", 2), record("c", 3)])
        await writer.publish_delete(["a"])
        for _ in range(100):
            if len(seen) == 3:
                break
            await asyncio.sleep(0.02)
        assert [[r.item_id for r in e.records] for e in seen] == [["a"], ["b", "c"], []]
        assert seen[2].deleted_ids == ["a"] and seen[2].origin == "replica-a"
        await reader.close()
        await writer.close()


async def test_publish_fails_fast_when_redis_is_down() -> None:
    feed = RedisItemFeed(f"redis://127.0.0.1:{free_port()}/0", "items", "r", timeout_s=0.5)
    with pytest.raises(FeedUnavailable):
        await feed.publish_upsert([record("a", 1)])
    await feed.close()


def test_attributes_and_publication_time_survive_the_wire_format_and_the_store(tmp_path: Path) -> None:
    rich = ItemRecord("a", record("a", 1).text, None, "d", 3, {"region": "eu", "in_stock": "true"}, 1234)
    back = decode_records(encode_records([rich, record("b", 2)]))
    assert back[0].attributes == {"region": "eu", "in_stock": "true"} and back[0].published_ms == 1234
    assert back[1].attributes == {} and back[1].published_ms == 0
    store = SqliteItemStore(tmp_path / "items.db")
    store.upsert([rich])
    store.upsert([ItemRecord("a", rich.text, None, "d", 4, {"region": "us"}, 99)])  # replaced whole
    store.close()
    (live,), _ = SqliteItemStore(tmp_path / "items.db").load()
    assert live.attributes == {"region": "us"} and live.published_ms == 99


def test_an_older_feed_entry_decodes_without_attributes() -> None:
    text = record("old", 1).text
    assert text is not None
    head = json.dumps([["old", text.nbytes, 0, "d", 7]]).encode()  # the five-field header of earlier releases
    (old,) = decode_records(struct.pack("<I", len(head)) + head + text.astype("<f4").tobytes())
    assert old.item_id == "old" and old.attributes == {} and old.published_ms == 0 and old.updated_ms == 7


def test_a_store_written_before_attributes_gains_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE items (item_id TEXT PRIMARY KEY, text BLOB NOT NULL, image BLOB NOT NULL, domain TEXT NOT NULL,"
        " updated_ms INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    )
    text = record("kept", 1).text
    assert text is not None
    db.execute("INSERT INTO items VALUES ('kept', ?, x'', 'd', 5, 0)", (text.astype("<f4").tobytes(),))
    db.commit()
    db.close()
    store = SqliteItemStore(path)
    (kept,), _ = store.load()
    assert kept.item_id == "kept" and kept.attributes == {} and kept.published_ms == 0
    np.testing.assert_array_equal(kept.text, text)
    store.upsert([ItemRecord("new", text, None, "", 6, {"k": "v"}, 6)])
    assert {r.item_id: r.attributes for r in store.load()[0]} == {"kept": {}, "new": {"k": "v"}}
