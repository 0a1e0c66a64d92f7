"""The dataset contract: timestamped events and the items they refer to."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class DatasetError(ValueError):
    """Input data violates the contract; the message names the offending field."""


@dataclass(frozen=True)
class Events:
    """Interaction events in file order. Timestamps are milliseconds since the Unix epoch."""

    user_ids: np.ndarray  # (E,) object (str)
    item_ids: np.ndarray  # (E,) object (str)
    timestamps_ms: np.ndarray  # (E,) int64
    domains: np.ndarray | None = None  # (E,) object (str) or None
    event_types: np.ndarray | None = None  # (E,) object (str) or None

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        for name in ("item_ids", "timestamps_ms", "domains", "event_types"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise DatasetError(f"events.{name}: length {len(value)} != user_ids length {n}")
        if self.timestamps_ms.dtype != np.int64:
            raise DatasetError(f"events.timestamps_ms: dtype must be int64, got {self.timestamps_ms.dtype}")
        if n and (self.timestamps_ms < 0).any():
            raise DatasetError("events.timestamps_ms: negative timestamp")

    def __len__(self) -> int:
        return len(self.user_ids)


@dataclass(frozen=True)
class Items:
    """Item catalogue: ids, named text fields and optional image paths (absolute or None)."""

    item_ids: list[str]
    text_fields: dict[str, list[str]] = field(default_factory=dict)
    image_paths: list[str | None] = field(default_factory=list)
    genres: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if len(set(self.item_ids)) != n:
            raise DatasetError("items.item_id: duplicate ids")
        for name, values in self.text_fields.items():
            if len(values) != n:
                raise DatasetError(f"items.{name}: length {len(values)} != {n} items")
        if self.image_paths and len(self.image_paths) != n:
            raise DatasetError(f"items.image: length {len(self.image_paths)} != {n} items")

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class Dataset:
    """A named pair of events and items; every event's item must be in the catalogue."""

    name: str
    events: Events
    items: Items

    def __post_init__(self) -> None:
        known = set(self.items.item_ids)
        unknown = {i for i in np.unique(self.events.item_ids) if i not in known}
        if unknown:
            sample = sorted(unknown)[:5]
            raise DatasetError(f"events.item_id: {len(unknown)} ids not in items, e.g. {sample}")
