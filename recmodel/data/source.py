"""Which files a dataset is read from and how: the typed dataset config, its resolution and CLI flags.

A dataset is an events file and an items file (CSV or Parquet) in the contract of ``docs/data-contract.md``.
Where they come from, highest precedence first:

1. ``--events FILE`` / ``--items FILE`` (and ``--time-unit``, ``--columns``, ``--text-fields``, ``--image-column``);
2. ``--data PATH``: a ``dataset.yaml``, or a folder holding one, or a folder in a known layout (``interactions.csv``
   + ``items.csv``: ml100k-mm; ``events.{csv,parquet}`` + ``items.{csv,parquet}``: the contract's defaults);
3. ``data.dataset`` of the experiment config (default ``format: auto`` on the configured data folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recmodel.data.contract import DatasetError

DATASET_YAML = "dataset.yaml"
ML100K = "ml100k-mm"
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
ML100K_TEXT_FIELDS = ("title", "genres", "plot")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventColumns(_Strict):
    """Column names of the events file (``domain`` / ``event_type`` are optional: null = never read)."""

    user_id: str = "user_id"
    item_id: str = "item_id"
    timestamp: str = "timestamp"
    domain: str | None = "domain"
    event_type: str | None = "event_type"


class ItemColumns(_Strict):
    """Column names of the items file (``image`` / ``genres`` are optional: null = never read)."""

    item_id: str = "item_id"
    image: str | None = Field("image", description="local image path, relative to the items file's folder")
    genres: str | None = Field("genres", description="'|'-separated genres (used by data.genre_domains only)")


class DatasetConfig(_Strict):
    """How to read one dataset; paths are relative to the dataset.yaml / ``--data`` folder they come with.

    ``format: ml100k-mm`` fixes the files (``interactions.csv``, ``items.csv``), seconds and the text fields
    ``title, genres, plot``; ``contract`` reads ``events`` and ``items`` as configured; ``auto`` (the default)
    picks ml100k-mm when the folder holds ``interactions.csv``, else the contract.
    """

    format: Literal["auto", "ml100k-mm", "contract"] = "auto"
    name: str | None = Field(None, description="label for logs and cache folders; default: the folder's name")
    events: Path | None = Field(None, description="events file; default events.csv or events.parquet")
    items: Path | None = Field(None, description="items file; default items.csv or items.parquet")
    time_unit: Literal["s", "ms"] | None = Field(None, description="unit of the timestamp column (contract: ms)")
    columns: EventColumns = EventColumns()
    item_columns: ItemColumns = ItemColumns()
    text_fields: list[str] | None = Field(
        None,
        description="item columns embedded as the item's text, in order; [] = no text; "
        "null = every column besides item_id and image (ml100k-mm: title, genres, plot)",
    )
    unknown_items: Literal["error", "drop"] = Field(
        "error", description="events whose item is not in the items file: fail, or drop them (count logged)"
    )
    missing_images: Literal["warn", "error"] = Field(
        "warn", description="an image path that is not a file: the item has no image (warning), or fail"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        """The legacy spelling ``dataset: ml100k-mm`` (and ``auto`` / ``contract``) means that format."""
        return {"format": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> DatasetConfig:
        reserved = {self.item_columns.item_id, self.item_columns.image} - {None}
        clash = reserved & set(self.text_fields or [])
        if clash:
            raise ValueError(f"text_fields: {sorted(clash)} is the item id or image column, not a text")
        return self


class ResolvedDataset(_Strict):
    """A ``DatasetConfig`` with its format decided, absolute file paths and every default filled in."""

    name: str
    format: Literal["ml100k-mm", "contract"]
    events: Path
    items: Path
    time_unit: Literal["s", "ms"]
    columns: EventColumns
    item_columns: ItemColumns
    text_fields: list[str] | None
    unknown_items: Literal["error", "drop"]
    missing_images: Literal["warn", "error"]

    def parse_options(self) -> dict[str, Any]:
        """Everything but the paths and the name: what the content key adds to the files' bytes."""
        return self.model_dump(mode="json", exclude={"name", "events", "items"})


def _find_table(folder: Path, stem: str) -> Path:
    for suffix in TABLE_SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return folder / f"{stem}.csv"  # reported as missing by the loader


def read_dataset_yaml(path: Path) -> DatasetConfig:
    """A dataset.yaml (errors name the file and field)."""
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    raw = yaml.safe_load(path.read_text()) or {}
    try:
        return DatasetConfig.model_validate(raw)
    except ValidationError as exc:
        raise DatasetError(f"{path}: {exc}") from exc


def resolve_dataset(config: DatasetConfig, folder: Path) -> ResolvedDataset:
    """Decide the format and fill in paths (relative to ``folder``) and defaults."""
    folder = Path(folder).expanduser().resolve()
    fmt = config.format
    if fmt == "auto":
        explicit = config.events is not None or config.items is not None
        fmt = ML100K if not explicit and (folder / "interactions.csv").is_file() else "contract"
    if fmt == ML100K:
        events = folder / (config.events or "interactions.csv")
        items = folder / (config.items or "items.csv")
        time_unit = config.time_unit or "s"
        text_fields = config.text_fields if config.text_fields is not None else list(ML100K_TEXT_FIELDS)
        name = config.name or ML100K
    else:
        events = folder / config.events if config.events else _find_table(folder, "events")
        items = folder / config.items if config.items else _find_table(folder, "items")
        time_unit = config.time_unit or "ms"
        text_fields = config.text_fields
        name = config.name or events.resolve().parent.name or "dataset"
    return ResolvedDataset(
        name=name,
        format=fmt,
        events=events.resolve(),
        items=items.resolve(),
        time_unit=time_unit,
        columns=config.columns,
        item_columns=config.item_columns,
        text_fields=text_fields,
        unknown_items=config.unknown_items,
        missing_images=config.missing_images,
    )


def dataset_from_path(path: Path, config: DatasetConfig | None = None) -> ResolvedDataset:
    """``--data PATH``: a dataset.yaml, a folder with one, or a folder read with ``config`` (default: auto)."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        return resolve_dataset(read_dataset_yaml(path), path.parent)
    if (path / DATASET_YAML).is_file():
        return resolve_dataset(read_dataset_yaml(path / DATASET_YAML), path)
    return resolve_dataset(config or DatasetConfig(), path)


# --- command line ---------------------------------------------------------------------------------------------


def add_data_arguments(parser: argparse.ArgumentParser, default_data: Path) -> None:
    """The dataset flags shared by ``recmodel.train``, ``recmodel.evaluate`` and the cold-start evaluation."""
    group = parser.add_argument_group("dataset (docs/data-contract.md)")
    group.add_argument(
        "--data",
        type=Path,
        default=None,
        help="dataset folder (ml100k-mm layout, contract files or a dataset.yaml) or a dataset.yaml file; "
        f"default: the folder of --events / --items, else {default_data}",
    )
    parser.set_defaults(default_data=default_data)
    group.add_argument("--events", type=Path, default=None, help="events file (CSV or Parquet); overrides --data")
    group.add_argument("--items", type=Path, default=None, help="items file (CSV or Parquet); overrides --data")
    group.add_argument("--time-unit", choices=("s", "ms"), default=None, help="unit of the events' timestamps")
    group.add_argument(
        "--columns",
        default="",
        help="events/items column names, e.g. user_id=uid,timestamp=ts,items.item_id=sku,items.image=poster",
    )
    group.add_argument("--text-fields", default=None, help="comma-separated item text columns ('' = no text)")
    group.add_argument("--image-column", default=None, help="item image-path column ('' = no images)")


def _column_overrides(spec: str) -> tuple[dict[str, str | None], dict[str, str | None]]:
    events: dict[str, str | None] = {}
    items: dict[str, str | None] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep:
            raise DatasetError(f"--columns: expected key=value, got {part!r}")
        key = key.strip()
        target, key = (items, key.removeprefix("items.")) if key.startswith("items.") else (events, key)
        known = ItemColumns.model_fields if target is items else EventColumns.model_fields
        if key not in known:
            raise DatasetError(f"--columns: unknown column key {part.split('=')[0]!r}; known {sorted(known)}")
        target[key] = value.strip() or None
    return events, items


def dataset_from_args(args: argparse.Namespace, config: DatasetConfig | None = None) -> ResolvedDataset:
    """The dataset the flags of :func:`add_data_arguments` describe (``config``: the experiment's ``data.dataset``)."""
    base = config or DatasetConfig()
    given = args.events or args.items
    folder = Path(args.data or (Path(given).parent if given else args.default_data)).expanduser()
    if folder.is_file() and folder.suffix in (".yaml", ".yml"):
        base, folder = read_dataset_yaml(folder), folder.parent
    elif (folder / DATASET_YAML).is_file():
        base = read_dataset_yaml(folder / DATASET_YAML)
    update: dict[str, Any] = {}
    if args.events is not None or args.items is not None:
        update["format"] = "contract" if base.format == "auto" else base.format
        if args.events is not None:
            update["events"] = Path(args.events).expanduser().resolve()
        if args.items is not None:
            update["items"] = Path(args.items).expanduser().resolve()
    if args.time_unit is not None:
        update["time_unit"] = args.time_unit
    if args.text_fields is not None:
        update["text_fields"] = [f.strip() for f in args.text_fields.split(",") if f.strip()]
    events_cols, item_cols = _column_overrides(args.columns)
    if args.image_column is not None:
        item_cols["image"] = args.image_column.strip() or None
    if events_cols:
        update["columns"] = base.columns.model_copy(update=events_cols)
    if item_cols:
        update["item_columns"] = base.item_columns.model_copy(update=item_cols)
    try:
        merged = DatasetConfig.model_validate(base.model_dump() | update)
    except ValidationError as exc:
        raise DatasetError(f"dataset flags: {exc}") from exc
    return resolve_dataset(merged, folder)
