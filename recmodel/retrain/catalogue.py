"""The training catalogue, from what the ranker already holds: no item is encoded again.

    catalogue = the served artifact's catalogue.npz (raw encoder vectors of its training items)
              + the ranker's item store(s) (items.sqlite: raw vectors as upserted, newest wins)
              - the store's deletions

Rows keep the artifact's order, then new items by first upsert time; an absent modality is a zero row with its
presence flag false, exactly as the ranker stores it. The result is written as a hand-saved feature set, which
``recmodel.features.dataset_item_features`` takes as given (keyed by its bytes, never re-extracted).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ranker.catalog.records import ItemRecord, record_from_blobs
from recmodel.model.artifact import CATALOGUE
from recmodel.model.catalogue import Catalogue

STORE_FILE = "items.sqlite"


@dataclass(frozen=True)
class AssembledCatalogue:
    """The training catalogue and where its rows came from (counts for the report)."""

    catalogue: Catalogue
    from_artifact: int  # artifact rows kept as they are
    upserted: int  # rows taken from a store (new items and replaced artifact items)
    new: int  # store items the artifact did not have
    deleted: int  # artifact or store items removed by a tombstone

    def summary(self) -> dict[str, int]:
        return {
            "items": len(self.catalogue),
            "from_artifact": self.from_artifact,
            "upserted": self.upserted,
            "new": self.new,
            "deleted": self.deleted,
        }


def store_path(path: Path) -> Path:
    """An ``items.sqlite`` file, or a ranker data dir holding one."""
    path = Path(path)
    return path / STORE_FILE if path.is_dir() else path


def read_store(path: Path) -> tuple[list[ItemRecord], list[str]]:
    """(live records, deleted ids) of a ranker item store, opened read-only (a running ranker may hold it)."""
    path = store_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"item store {path}: not found")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(items)")}
        extra = [c if c in columns else default for c, default in (("attributes", "'{}'"), ("published_ms", "0"))]
        rows = db.execute(
            f"SELECT item_id, text, image, domain, updated_ms, deleted, {extra[0]}, {extra[1]} FROM items"
        ).fetchall()
    finally:
        db.close()
    live = [record_from_blobs(i, t, m, d, u, json.loads(a), p) for i, t, m, d, u, gone, a, p in rows if not gone]
    return live, [row[0] for row in rows if row[5]]


def read_redis_feed(url: str, stream: str) -> tuple[list[ItemRecord], list[str]]:
    """(live records, deleted ids) after replaying the ranker's item stream from its first entry, in order."""
    import asyncio

    from ranker.catalog.redis_feed import FeedEntry, RedisItemFeed

    live: dict[str, ItemRecord] = {}
    deleted: dict[str, None] = {}

    async def apply(entry: FeedEntry) -> None:
        for record in entry.records:
            live[record.item_id] = record
            deleted.pop(record.item_id, None)
        for item in entry.deleted_ids:
            live.pop(item, None)
            deleted[item] = None

    async def replay() -> None:
        feed = RedisItemFeed(url, stream, replica_id="retrain")
        try:
            await feed.replay("0-0", apply)
        finally:
            await feed.close()

    asyncio.run(replay())
    order = {item: k for k, item in enumerate(live)}  # stream order, kept through the updated_ms sort below
    records = sorted(live.values(), key=lambda r: order[r.item_id])
    return [replace(r, updated_ms=k) for k, r in enumerate(records)], list(deleted)


def assemble_catalogue(base: Catalogue, stores: list[tuple[list[ItemRecord], list[str]]]) -> AssembledCatalogue:
    """``base`` overlaid with each store's upserts (newest ``updated_ms`` last) and deletions, in order."""
    text_dim, image_dim = base.text.shape[1], base.image.shape[1]
    rows: dict[str, tuple[np.ndarray, np.ndarray, bool, bool]] = {
        item: (base.text[k], base.image[k], bool(base.has_text[k]), bool(base.has_image[k]))
        for k, item in enumerate(base.item_ids)
    }
    order = list(base.item_ids)
    known = set(base.item_ids)
    upserted: set[str] = set()
    deleted: set[str] = set()
    for live, gone in stores:
        for record in sorted(live, key=lambda r: r.updated_ms):
            rows[record.item_id] = _row(record, text_dim, image_dim)
            if record.item_id not in upserted and record.item_id not in known:
                order.append(record.item_id)
            upserted.add(record.item_id)
            deleted.discard(record.item_id)
        for item in gone:
            if item in rows:
                deleted.add(item)
            rows.pop(item, None)
            upserted.discard(item)
    ids = list(dict.fromkeys(i for i in order if i in rows))
    if not ids:
        raise ValueError("training catalogue: no items left")
    catalogue = Catalogue(
        item_ids=ids,
        text=np.stack([rows[i][0] for i in ids]).astype(np.float32),
        image=np.stack([rows[i][1] for i in ids]).astype(np.float32),
        has_text=np.array([rows[i][2] for i in ids], dtype=bool),
        has_image=np.array([rows[i][3] for i in ids], dtype=bool),
    )
    live_upserts = upserted & set(ids)
    return AssembledCatalogue(
        catalogue=catalogue,
        from_artifact=sum(1 for i in ids if i in known and i not in live_upserts),
        upserted=len(live_upserts),
        new=sum(1 for i in live_upserts if i not in known),
        deleted=len(deleted),
    )


def _row(record: ItemRecord, text_dim: int, image_dim: int) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    out = []
    for name, vector, dim in (("text", record.text, text_dim), ("image", record.image, image_dim)):
        if vector is not None and vector.shape != (dim,):
            raise ValueError(
                f"item store: item {record.item_id!r} has a {vector.shape} {name} vector, expected ({dim},)"
            )
        out.append(np.zeros(dim, dtype=np.float32) if vector is None else np.asarray(vector, dtype=np.float32))
    return out[0], out[1], record.text is not None, record.image is not None


def training_catalogue(
    artifact: Path, stores: list[Path], redis_feed: tuple[str, str] | None = None
) -> AssembledCatalogue:
    """The artifact's catalogue overlaid with the item stores at ``stores``, then the Redis item stream
    (``(url, stream)``) when given (see the module docstring)."""
    base = Catalogue.load(Path(artifact) / CATALOGUE)
    sources = [read_store(path) for path in stores]
    if redis_feed is not None:
        sources.append(read_redis_feed(*redis_feed))
    return assemble_catalogue(base, sources)


def save_as_features(catalogue: Catalogue, folder: Path) -> None:
    """Write ``catalogue`` as a hand-saved feature set (``encoders.features.save_features``, no extraction record)."""
    from encoders.features import ItemFeatures, save_features

    features = ItemFeatures(
        item_ids=list(catalogue.item_ids),
        text=catalogue.text,
        image=catalogue.image,
        has_text=catalogue.has_text,
        has_image=catalogue.has_image,
    )
    save_features(features, folder)
