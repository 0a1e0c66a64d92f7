"""CSV / Parquet loaders for the dataset contract, and the ml100k-mm loader."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ranker.data.contract import Dataset, DatasetError, Events, Items

TimeUnit = Literal["s", "ms"]
_UNIT_TO_MS = {"s": 1000, "ms": 1}


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    if suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path).astype(str)
    raise DatasetError(f"{path}: unsupported format {suffix!r} (use .csv or .parquet)")


def _require(df: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}")


def load_events(path: Path, time_unit: TimeUnit = "ms") -> Events:
    """Load events (``user_id,item_id,timestamp[,domain][,event_type]``) keeping file order.

    ``time_unit`` is the unit of the ``timestamp`` column; the result is always in milliseconds.
    """
    if time_unit not in _UNIT_TO_MS:
        raise DatasetError(f"time_unit: must be 's' or 'ms', got {time_unit!r}")
    df = _read_table(path)
    _require(df, ("user_id", "item_id", "timestamp"), path)
    try:
        ts = pd.to_numeric(df["timestamp"], errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: column 'timestamp' is not numeric ({exc})") from exc
    if np.isnan(ts).any():
        raise DatasetError(f"{path}: column 'timestamp' has missing values")
    ms = np.round(ts * _UNIT_TO_MS[time_unit]).astype(np.int64)
    return Events(
        user_ids=df["user_id"].to_numpy(dtype=object),
        item_ids=df["item_id"].to_numpy(dtype=object),
        timestamps_ms=ms,
        domains=df["domain"].to_numpy(dtype=object) if "domain" in df.columns else None,
        event_types=df["event_type"].to_numpy(dtype=object) if "event_type" in df.columns else None,
    )


def load_items(path: Path, text_fields: tuple[str, ...] = ("title", "genres", "plot")) -> Items:
    """Load items (``item_id`` + text fields + optional ``image`` path relative to the file's folder)."""
    df = _read_table(path)
    _require(df, ("item_id", *text_fields), path)
    images: list[str | None] = []
    if "image" in df.columns:
        images = [str(path.parent / p) if p else None for p in df["image"].tolist()]
    genres = [g.split("|") if g else [] for g in df["genres"].tolist()] if "genres" in df.columns else []
    return Items(
        item_ids=df["item_id"].tolist(),
        text_fields={f: df[f].tolist() for f in text_fields},
        image_paths=images,
        genres=genres,
    )


def load_ml100k_mm(data_dir: Path) -> Dataset:
    """MovieLens-100K with posters and plots; its timestamps are Unix seconds (converted to ms)."""
    events = load_events(data_dir / "interactions.csv", time_unit="s")
    items = load_items(data_dir / "items.csv")
    return Dataset(name="ml100k-mm", events=events, items=items)
