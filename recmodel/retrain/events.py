"""Events for retraining: read (event log or contract file), windowed, cut by time into training events and the
evaluation slice, and the slice turned into next-item cases.

The cut is the cold-start work's time split applied to events: the newest ``holdout.fraction`` of the window's
events (or its last ``holdout.days``) are held out. The candidate trains on the events before the cut; the
candidate and the served model are scored on the same slice cases, each case being one held-out event with the
user's every earlier event in the window as its history (slice events included: a service would have them).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recmodel.data.contract import DatasetError
from recmodel.retrain.settings import EventsSource, HoldoutSettings, WindowSettings

DAY_MS = 86_400_000
COLUMNS = ("user_id", "item_id", "timestamp", "domain", "event_type")


@dataclass(frozen=True)
class EventTable:
    """Events in log (or file) order; timestamps in milliseconds."""

    user_ids: np.ndarray  # (E,) object
    item_ids: np.ndarray  # (E,) object
    timestamps_ms: np.ndarray  # (E,) int64
    domains: np.ndarray  # (E,) object ("" = none)
    event_types: np.ndarray  # (E,) object

    def __len__(self) -> int:
        return len(self.user_ids)

    def take(self, keep: np.ndarray) -> EventTable:
        return EventTable(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> EventTable:
        return cls(
            frame["user_id"].astype(str).to_numpy(dtype=object),
            frame["item_id"].astype(str).to_numpy(dtype=object),
            frame["timestamp"].to_numpy(dtype=np.int64),
            frame.get("domain", pd.Series([""] * len(frame))).fillna("").astype(str).to_numpy(dtype=object),
            frame.get("event_type", pd.Series([""] * len(frame))).fillna("").astype(str).to_numpy(dtype=object),
        )

    def frame(self) -> pd.DataFrame:
        """As a contract events table (timestamps in ms); empty domain / event_type columns are left out."""
        table = {"user_id": self.user_ids, "item_id": self.item_ids, "timestamp": self.timestamps_ms}
        for name, values in (("domain", self.domains), ("event_type", self.event_types)):
            if len(values) and (values != "").all():
                table[name] = values
        return pd.DataFrame(table)

    @property
    def span_ms(self) -> tuple[int, int]:
        return (int(self.timestamps_ms.min()), int(self.timestamps_ms.max())) if len(self) else (0, 0)


def read_events(source: EventsSource) -> EventTable:
    """Every event of the source, once (the event log's reader deduplicates on (user_id, event_id) and drops the
    events a later DeleteUser removed: docs/retraining.md, Deletions)."""
    if source.event_log is not None:
        from user_state.event_log import iter_events

        if not Path(source.event_log).is_dir():
            raise FileNotFoundError(f"event log {source.event_log}: not a directory")
        rows = [(e.user_id, e.item_id, e.timestamp_ms, e.domain, e.event_type) for e in iter_events(source.event_log)]
        return EventTable.from_frame(pd.DataFrame(rows, columns=list(COLUMNS)))
    from recmodel.data.loaders import load_events

    if source.file is None:  # EventsSource sets exactly one of event_log and file
        raise ValueError("events: set exactly one of event_log or file")
    events = load_events(Path(source.file), time_unit=source.time_unit)
    n = len(events)
    return EventTable(
        events.user_ids.astype(object),
        events.item_ids.astype(object),
        events.timestamps_ms,
        events.domains if events.domains is not None else np.full(n, "", dtype=object),
        events.event_types if events.event_types is not None else np.full(n, "", dtype=object),
    )


@dataclass(frozen=True)
class Cut:
    """The window and the time that splits it: ``train`` before ``cut_ms``, ``slice`` at or after it."""

    start_ms: int
    end_ms: int
    cut_ms: int
    train: EventTable
    slice: EventTable
    window: EventTable  # train + slice, in original order
    dropped_unknown: int  # window events whose item is not in the training catalogue
    dropped_old: int

    def summary(self) -> dict[str, object]:
        def iso(ms: int) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))

        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "cut_ms": self.cut_ms,
            "start": iso(self.start_ms),
            "end": iso(self.end_ms),
            "cut": iso(self.cut_ms),
            "events": len(self.window),
            "train_events": len(self.train),
            "slice_events": len(self.slice),
            "users": len(set(self.window.user_ids.tolist())),
            "dropped_unknown_items": self.dropped_unknown,
            "dropped_before_window": self.dropped_old,
        }


def cut_events(
    events: EventTable,
    items: set[str],
    window: WindowSettings,
    holdout: HoldoutSettings,
    now_ms: int | None = None,
) -> Cut:
    """Keep the window's events on known items, then split them at the holdout time (see the module docstring)."""
    known = np.fromiter((i in items for i in events.item_ids), dtype=bool, count=len(events))
    dropped_unknown = int((~known).sum())
    events = events.take(known)
    if not len(events):
        raise DatasetError("retrain: no events on catalogue items")
    end = int(events.timestamps_ms.max()) if window.end == "latest_event" else int(now_ms or time.time() * 1000)
    start = int(events.timestamps_ms.min()) if window.days is None else end - int(window.days * DAY_MS)
    inside = events.timestamps_ms >= start
    dropped_old = int((~inside).sum())
    events = events.take(inside)
    if not len(events):
        raise DatasetError(f"retrain: no events in the last {window.days} days before {end} ms")
    times = np.sort(events.timestamps_ms)
    if holdout.days is not None:
        cut = end - int(holdout.days * DAY_MS)
    else:
        cut = int(times[min(len(times) - 1, math.floor(len(times) * (1 - holdout.fraction)))])
    before = events.timestamps_ms < cut
    return Cut(start, end, cut, events.take(before), events.take(~before), events, dropped_unknown, dropped_old)


@dataclass(frozen=True)
class SliceCases:
    """Next-item cases of the slice: catalogue rows of each history (oldest first) and of the target."""

    users: list[str]
    histories: list[np.ndarray]  # int64 catalogue rows
    history_times: list[np.ndarray]  # int64 ms
    targets: np.ndarray  # (C,) int64
    target_times: np.ndarray  # (C,) int64

    def __len__(self) -> int:
        return len(self.targets)


def slice_cases(cut: Cut, item_ids: list[str], max_cases: int, seed: int = 0) -> SliceCases:
    """One case per slice event whose user had an earlier event in the window (a seeded sample of
    ``max_cases`` when there are more), in time order."""
    index = {item: k for k, item in enumerate(item_ids)}
    ev = cut.window
    rows = np.fromiter((index[i] for i in ev.item_ids), dtype=np.int64, count=len(ev))
    _, codes = np.unique(ev.user_ids.astype(str), return_inverse=True)
    order = np.lexsort((np.arange(len(ev)), ev.timestamps_ms, codes))
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    out: list[tuple[str, np.ndarray, np.ndarray, int, int]] = []
    for group in np.split(order, bounds):
        times = ev.timestamps_ms[group]
        items = rows[group]
        for pos in np.flatnonzero(times >= cut.cut_ms):
            if pos == 0:
                continue
            out.append((str(ev.user_ids[group[0]]), items[:pos], times[:pos], int(items[pos]), int(times[pos])))
    if len(out) > max_cases:
        keep = np.sort(np.random.default_rng(seed).choice(len(out), size=max_cases, replace=False))
        out = [out[k] for k in keep]
    out.sort(key=lambda case: case[4])
    return SliceCases(
        users=[c[0] for c in out],
        histories=[c[1] for c in out],
        history_times=[c[2] for c in out],
        targets=np.array([c[3] for c in out], dtype=np.int64),
        target_times=np.array([c[4] for c in out], dtype=np.int64),
    )


def corrupted(events: EventTable, item_ids: list[str], how: str, seed: int = 0) -> EventTable:
    """Training events with their items permuted across events or drawn uniformly (tests of the gate only)."""
    if how == "none":
        return events
    rng = np.random.default_rng(seed)
    if how == "shuffle_items":
        items = events.item_ids[rng.permutation(len(events))]
    elif how == "random_items":
        items = np.array(item_ids, dtype=object)[rng.integers(0, len(item_ids), size=len(events))]
    else:
        raise ValueError(f"corrupt: unknown {how!r}")
    return EventTable(events.user_ids, items, events.timestamps_ms, events.domains, events.event_types)
