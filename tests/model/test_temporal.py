"""Temporal features: log buckets, clamped intervals, normalised absolute time, registered experts."""

from __future__ import annotations

import torch

from recmodel.model.moe import TemporalMoE
from recmodel.model.temporal import (
    FIRST_BUCKET,
    PAD_BUCKET,
    absolute_time_features,
    interval_buckets,
    log_bucket,
)


def test_log_bucket_values() -> None:
    ms = torch.tensor([0, 1000, 3000, 7000])
    # floor(1 * log2(s + 1)) + 2 reserved buckets
    assert log_bucket(ms, scale=1.0, num_buckets=100).tolist() == [2, 3, 4, 5]
    assert log_bucket(torch.tensor([10**15]), scale=4.0, num_buckets=16).item() == 15 + 2


def test_negative_intervals_are_clamped_and_pads_masked() -> None:
    times = torch.tensor([[5_000, 1_000, 1_000, 0]])  # out of order, then a tie, then a pad
    mask = torch.tensor([[True, True, True, False]])
    buckets = interval_buckets(times, mask, scale=4.0, num_buckets=64)
    assert buckets.tolist() == [[FIRST_BUCKET, 2, 2, PAD_BUCKET]]


def test_absolute_features_are_normalised_not_raw_seconds() -> None:
    t = torch.tensor([[874_965_478_000, 4_102_444_800_000]])  # 1997 and 2100, in ms
    feats = absolute_time_features(t)
    assert feats.shape == (1, 2, 10)
    assert torch.isfinite(feats).all() and feats.abs().max() <= 1.0
    noon = absolute_time_features(torch.tensor([12 * 3_600_000]))
    assert abs(noon[0, 0].item()) < 1e-6 and noon[0, 5].item() == -1.0  # hour-of-day phase = 1/2
    one_week_later = absolute_time_features(torch.tensor([12 * 3_600_000 + 7 * 86_400_000]))
    assert torch.allclose(noon[:, [0, 1, 5, 6]], one_week_later[:, [0, 1, 5, 6]], atol=1e-5)  # day and week cycles


def test_temporal_experts_are_registered_and_trained() -> None:
    moe = TemporalMoE(width=8, time_dim=4, num_experts=3)
    names = {n for n, _ in moe.named_parameters()}
    assert "experts" in names
    z = torch.randn(2, 5, 8)
    moe(z, torch.randn(2, 5, 4)).sum().backward()
    assert moe.experts.grad is not None and moe.experts.grad.abs().sum() > 0
