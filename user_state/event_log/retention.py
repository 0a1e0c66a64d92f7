"""Which sealed segments retention deletes: the oldest, whole, while the directory is over its size bound or their
newest record is older than the age bound. Shared by the embedded log and the compactor's output."""

from __future__ import annotations

from pathlib import Path

from user_state.event_log.records import parquet_meta


def expired(
    sealed: list[tuple[Path, int]], retention_ms: int | None, max_bytes: int | None, now_ms: int, keep_last: bool
) -> list[Path]:
    """The segments to delete from ``sealed`` ((path, bytes) oldest first): a prefix that stops at the first one
    kept; ``keep_last`` never deletes the newest (a directory whose numbering continues from it)."""
    total = sum(size for _, size in sealed)
    cutoff = now_ms - retention_ms if retention_ms is not None else None
    candidates = sealed[:-1] if keep_last else sealed
    out = []
    for path, size in candidates:
        too_big = max_bytes is not None and total > max_bytes
        too_old = cutoff is not None and parquet_meta(path).get("last_logged_ms", 0) < cutoff
        if not (too_big or too_old):
            break
        out.append(path)
        total -= size
    return out
