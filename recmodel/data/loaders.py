"""CSV / Parquet loaders for the dataset contract (docs/data-contract.md), and the ml100k-mm loader.

Errors raise :class:`DatasetError` naming the file, the 1-based data row (the header is not a row) and the
column, e.g. ``events.csv: row 7, column 'ts': timestamp 'abc' is not a number``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recmodel.data.contract import Dataset, DatasetError, Events, Items
from recmodel.data.source import DatasetConfig, EventColumns, ItemColumns, ResolvedDataset, resolve_dataset

LOG = logging.getLogger(__name__)
TimeUnit = Literal["s", "ms"]
_UNIT_TO_MS = {"s": 1000, "ms": 1}
_DEFAULT_EVENT_COLUMNS = EventColumns()
_DEFAULT_ITEM_COLUMNS = ItemColumns()
_PLAUSIBLE_SECONDS = 1e11  # Unix seconds beyond this are past the year 5000: almost surely milliseconds


def _read_table(path: Path) -> pd.DataFrame:
    """CSV as strings (nothing parsed as missing); Parquet with its own column types."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: unreadable ({exc})") from exc
    raise DatasetError(f"{path}: unsupported format {suffix!r} (use .csv or .parquet)")


def _require(df: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; the file has {list(map(str, df.columns))}")


def _optional(df: pd.DataFrame, column: str | None, default: str | None, path: Path) -> str | None:
    """An optional column's name when the file has it; a name other than the default must exist."""
    if column is None:
        return None
    if column in df.columns:
        return column
    if column != default:
        _require(df, [column], path)
    return None


def _row_error(path: Path, rows: np.ndarray, column: str, problem: str) -> DatasetError:
    """An error at the first of ``rows`` (0-based positions), with how many rows share the problem."""
    first = int(rows[0]) + 1
    more = f" ({len(rows)} rows like this)" if len(rows) > 1 else ""
    return DatasetError(f"{path}: row {first}, column '{column}': {problem}{more}")


def _cell(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _text(df: pd.DataFrame, column: str) -> list[str]:
    """A column as strings; missing values (Parquet nulls / NaN) become ``""``, integral floats lose ``.0``."""
    series = df[column]
    if pd.api.types.is_string_dtype(series) and not series.isna().any():
        return [str(v) for v in series.tolist()]
    return [_cell(v) for v in series.tolist()]


def _ids(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = np.array([v.strip() for v in _text(df, column)], dtype=object)
    empty = np.flatnonzero(values == "")
    if len(empty):
        raise _row_error(path, empty, column, "empty id")
    return values


def _timestamps_ms(df: pd.DataFrame, column: str, unit: TimeUnit, path: Path) -> np.ndarray:
    series = df[column]
    if pd.api.types.is_datetime64_any_dtype(series):  # a Parquet timestamp column carries its own unit
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        missing = np.flatnonzero(series.isna().to_numpy())
        if len(missing):
            raise _row_error(path, missing, column, "empty timestamp")
        return ((series - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.int64)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        raw = None
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        raw = np.array([v.strip() for v in _text(df, column)], dtype=object)
        values = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        shown = "" if raw is None else raw[bad[0]]
        problem = "empty timestamp" if shown == "" else f"timestamp {shown!r} is not a number (Unix time in {unit})"
        raise _row_error(path, bad, column, problem)
    negative = np.flatnonzero(values < 0)
    if len(negative):
        raise _row_error(path, negative, column, f"negative timestamp {values[negative[0]]:g}")
    if unit == "s" and len(values) and values.max() > _PLAUSIBLE_SECONDS:
        LOG.warning("%s: column '%s' has values up to %g with time_unit 's': milliseconds?", path, column, values.max())
    return np.round(values * _UNIT_TO_MS[unit]).astype(np.int64)


def load_events(path: Path, time_unit: TimeUnit = "ms", columns: EventColumns | None = None) -> Events:
    """Events (user id, item id, timestamp, optional domain and event type) in file order.

    ``time_unit`` is the unit of the timestamp column; the result is always in milliseconds.
    """
    if time_unit not in _UNIT_TO_MS:
        raise DatasetError(f"time_unit: must be 's' or 'ms', got {time_unit!r}")
    cols = columns or _DEFAULT_EVENT_COLUMNS
    path = Path(path)
    df = _read_table(path)
    _require(df, (cols.user_id, cols.item_id, cols.timestamp), path)
    domain = _optional(df, cols.domain, _DEFAULT_EVENT_COLUMNS.domain, path)
    event_type = _optional(df, cols.event_type, _DEFAULT_EVENT_COLUMNS.event_type, path)
    return Events(
        user_ids=_ids(df, cols.user_id, path),
        item_ids=_ids(df, cols.item_id, path),
        timestamps_ms=_timestamps_ms(df, cols.timestamp, time_unit, path),
        domains=_ids(df, domain, path) if domain else None,
        event_types=_ids(df, event_type, path) if event_type else None,
    )


def load_items(
    path: Path,
    text_fields: Sequence[str] | None = ("title", "genres", "plot"),
    columns: ItemColumns | None = None,
    missing_images: Literal["warn", "error"] = "warn",
) -> Items:
    """Items: id, text fields (``None``: every column but the id and image), optional genres and image path.

    Image paths are relative to the file's folder (or absolute); one that is not a file is reported and the item
    has no image (``missing_images="warn"``) or the load fails (``"error"``).
    """
    cols = columns or _DEFAULT_ITEM_COLUMNS
    path = Path(path)
    df = _read_table(path)
    _require(df, [cols.item_id], path)
    image = _optional(df, cols.image, _DEFAULT_ITEM_COLUMNS.image, path)
    genres = _optional(df, cols.genres, _DEFAULT_ITEM_COLUMNS.genres, path)
    if text_fields is None:
        text_fields = [str(c) for c in df.columns if c not in (cols.item_id, image)]
    _require(df, list(text_fields), path)
    item_ids = _ids(df, cols.item_id, path)
    duplicated = np.flatnonzero(pd.Series(item_ids).duplicated().to_numpy())
    if len(duplicated):
        first = int(np.flatnonzero(item_ids == item_ids[duplicated[0]])[0]) + 1
        raise _row_error(
            path, duplicated, cols.item_id, f"duplicate item id {item_ids[duplicated[0]]!r} (first at row {first})"
        )
    images: list[str | None] = []
    if image:
        images = _image_paths(_text(df, image), path, image, missing_images)
    return Items(
        item_ids=item_ids.tolist(),
        text_fields={f: _text(df, f) for f in text_fields},
        image_paths=images,
        genres=[[g for g in v.split("|") if g] for v in _text(df, genres)] if genres else [],
    )


def _image_paths(values: list[str], path: Path, column: str, missing: Literal["warn", "error"]) -> list[str | None]:
    base = path.parent
    resolved = [str(base / v.strip()) if v.strip() else None for v in values]
    absent = np.array([p is not None and not Path(p).is_file() for p in resolved], dtype=bool)
    rows = np.flatnonzero(absent)
    if len(rows):
        if missing == "error":
            raise _row_error(path, rows, column, f"image {values[rows[0]]!r} is not a file")
        LOG.warning(
            "%s: column '%s': %d image path(s) are not files (first at row %d: %r); those items have no image",
            path,
            column,
            len(rows),
            int(rows[0]) + 1,
            values[rows[0]],
        )
        resolved = [None if a else p for p, a in zip(resolved, absent, strict=True)]
    return resolved


def load_dataset(source: ResolvedDataset) -> Dataset:
    """Events and items of a resolved dataset; events of unknown items fail or are dropped (``unknown_items``)."""
    events = load_events(source.events, source.time_unit, source.columns)
    items = load_items(source.items, source.text_fields, source.item_columns, source.missing_images)
    known = pd.Index(items.item_ids)
    unknown = np.flatnonzero(~pd.Index(events.item_ids).isin(known))
    if len(unknown):
        distinct = len(set(events.item_ids[unknown].tolist()))
        if source.unknown_items == "error":
            problem = f"item {events.item_ids[unknown[0]]!r} is not in {source.items} ({distinct} unknown item ids)"
            raise _row_error(source.events, unknown, source.columns.item_id, problem)
        LOG.warning(
            "%s: dropped %d event(s) of %d item id(s) not in %s", source.events, len(unknown), distinct, source.items
        )
        keep = np.ones(len(events), dtype=bool)
        keep[unknown] = False
        events = Events(
            user_ids=events.user_ids[keep],
            item_ids=events.item_ids[keep],
            timestamps_ms=events.timestamps_ms[keep],
            domains=None if events.domains is None else events.domains[keep],
            event_types=None if events.event_types is None else events.event_types[keep],
        )
    if not len(events):
        raise DatasetError(f"{source.events}: no events")
    return Dataset(name=source.name, events=events, items=items)


def load_ml100k_mm(data_dir: Path) -> Dataset:
    """MovieLens-100K with posters and plots; its timestamps are Unix seconds (converted to ms)."""
    return load_dataset(resolve_dataset(DatasetConfig(format="ml100k-mm"), data_dir))
