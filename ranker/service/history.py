"""Turn stored and inline events into the padded history arrays the model consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from user_state.events import Event


def merge_events(stored: list[Event], inline: list[Event], request_time_ms: int) -> list[Event]:
    """Stored + inline events, de-duplicated by event_id (stored wins), oldest first, none after the request."""
    seen = {e.event_id for e in stored if e.event_id}
    extra = [e for e in inline if not e.event_id or e.event_id not in seen]
    merged = [*stored, *extra] if extra else list(stored)
    merged = [e for e in merged if e.timestamp_ms <= request_time_ms]
    if extra:
        merged.sort(key=lambda e: e.timestamp_ms)  # stable: arrival order breaks ties
    return merged


@dataclass
class UsableHistory:
    """Index rows of the events the model can use (oldest first) and what was skipped."""

    rows: list[int]
    item_ids: list[str]  # the item of each row
    times_ms: list[int]
    domains: list[str]
    seen_item_ids: frozenset[str]
    unknown_items: int


def usable_history(events: list[Event], row_of: Mapping[str, int], max_len: int) -> UsableHistory:
    """Keep events whose item is indexed (``row_of``: item id -> row); the newest ``max_len`` of them."""
    rows, ids, times, domains, unknown = [], [], [], [], 0
    for e in events:
        row = row_of.get(e.item_id)
        if row is None:
            unknown += 1
            continue
        rows.append(row)
        ids.append(e.item_id)
        times.append(e.timestamp_ms)
        domains.append(e.domain)
    return UsableHistory(
        rows[-max_len:],
        ids[-max_len:],
        times[-max_len:],
        domains[-max_len:],
        frozenset(e.item_id for e in events),
        unknown,
    )


@dataclass
class HistoryBatch:
    """Right-padded histories of B users: each position's item vector (from the index) plus times."""

    item_vectors: np.ndarray  # (B, L, dim) float32, zeros past each length
    times_ms: np.ndarray  # (B, L) int64
    lengths: np.ndarray  # (B,) int64, >= 1
    request_ms: np.ndarray  # (B,) int64
    domains: list[list[str]]
    target_domains: list[str]


def assemble(
    histories: list[UsableHistory], request_ms: list[int], target_domains: list[str], vectors: np.ndarray
) -> HistoryBatch:
    """Gather the item vectors (rows of ``vectors``) of every history position into padded (B, L, dim) arrays."""
    b = len(histories)
    length = max(len(h.rows) for h in histories)
    rows = np.zeros((b, length), dtype=np.int64)
    mask = np.zeros((b, length), dtype=bool)
    times = np.zeros((b, length), dtype=np.int64)
    for i, h in enumerate(histories):
        n = len(h.rows)
        rows[i, :n], mask[i, :n], times[i, :n] = h.rows, True, h.times_ms
        times[i, n:] = h.times_ms[-1] if n else 0
    item_vectors = vectors[rows]
    item_vectors[~mask] = 0.0
    return HistoryBatch(
        item_vectors=item_vectors,
        times_ms=times,
        lengths=mask.sum(axis=1).astype(np.int64),
        request_ms=np.asarray(request_ms, dtype=np.int64),
        domains=[h.domains for h in histories],
        target_domains=list(target_domains),
    )
