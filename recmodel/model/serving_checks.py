"""Checks of the history times a serving call receives (shapes, lengths, finite and non-negative times)."""

from __future__ import annotations

import numpy as np


def check_times(
    timestamps_ms: np.ndarray, lengths: np.ndarray, request_time_ms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (timestamps (B, L), lengths (B,), request times (B,)); ValueError naming the argument."""
    lengths = np.asarray(lengths, dtype=np.int64)
    times = np.asarray(timestamps_ms)
    if times.ndim != 2:
        raise ValueError(f"timestamps_ms: expected (B, L), got shape {times.shape}")
    b, length = times.shape
    if lengths.shape != (b,) or (lengths < 1).any() or (lengths > length).any():
        raise ValueError(f"lengths: expected {b} values in [1, {length}]")
    request = np.asarray(request_time_ms)
    if request.shape != (b,):
        raise ValueError(f"request_time_ms: expected shape ({b},), got {request.shape}")
    valid = np.arange(length)[None, :] < lengths[:, None]
    for name, arr in (("timestamps_ms", times), ("request_time_ms", request)):
        if not np.issubdtype(arr.dtype, np.integer) and not np.isfinite(arr).all():
            raise ValueError(f"{name}: NaN or infinite values")
    if (np.where(valid, times, 0) < 0).any() or (request < 0).any():
        raise ValueError("timestamps_ms: negative timestamps")
    return times, lengths, request
