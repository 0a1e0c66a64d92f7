"""Time features: log-bucketed intervals and normalised absolute-time sinusoids (never raw Unix seconds)."""

from __future__ import annotations

import math

import torch

MS_PER_SECOND = 1000.0
SECONDS_PER_DAY = 86_400.0
# Periods in days of the calendar phases: week, ~month, season, year.
_PERIODS_DAYS = (7.0, 30.4375, 91.3125, 365.25)
ABS_TIME_FEATURES = 2 + 2 * len(_PERIODS_DAYS)  # hour-of-day (sin, cos) + the periods above
PAD_BUCKET = 0
FIRST_BUCKET = 1
_OFFSET = 2  # buckets 0/1 are reserved for padding and "no previous event"


def log_bucket(delta_ms: torch.Tensor, scale: float, num_buckets: int) -> torch.Tensor:
    """Bucket ``floor(scale * log2(seconds + 1)) + 2`` of non-negative gaps (negatives clamped to 0)."""
    seconds = delta_ms.clamp(min=0).to(torch.float64) / MS_PER_SECOND
    raw = torch.floor(scale * torch.log2(seconds + 1.0)).long()
    return raw.clamp(max=num_buckets - 1) + _OFFSET


def interval_buckets(times_ms: torch.Tensor, mask: torch.Tensor, scale: float, num_buckets: int) -> torch.Tensor:
    """Bucket of t_j - t_{j-1} per position; the first position gets FIRST_BUCKET, pads PAD_BUCKET."""
    delta = torch.zeros_like(times_ms)
    delta[:, 1:] = times_ms[:, 1:] - times_ms[:, :-1]
    buckets = log_bucket(delta, scale, num_buckets)
    buckets[:, 0] = FIRST_BUCKET
    return torch.where(mask, buckets, torch.full_like(buckets, PAD_BUCKET))


def absolute_time_features(times_ms: torch.Tensor) -> torch.Tensor:
    """Sin/cos phases of hour-of-day and of weekly, monthly, seasonal and yearly cycles, in [-1, 1]."""
    days = times_ms.to(torch.float64) / (MS_PER_SECOND * SECONDS_PER_DAY)
    phases = [torch.remainder(days, 1.0)]  # fraction of the (UTC) day
    phases += [torch.remainder(days, p) / p for p in _PERIODS_DAYS]
    angles = torch.stack(phases, dim=-1) * (2.0 * math.pi)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).to(torch.float32)


def num_bucket_embeddings(num_buckets: int) -> int:
    """Embedding-table size for :func:`log_bucket` outputs including the reserved buckets."""
    return num_buckets + _OFFSET
