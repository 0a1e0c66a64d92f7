"""The learning-rate schedule: constant, or linear warm-up then cosine decay to zero at the last step."""

from __future__ import annotations

import itertools

import pytest
import torch

from recmodel.training.config import TrainConfig
from recmodel.training.loop import learning_rate_schedule


def _lrs(cfg: TrainConfig, steps_per_epoch: int) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    schedule = learning_rate_schedule(optimizer, cfg, steps_per_epoch)
    out = []
    for _ in range(cfg.epochs * steps_per_epoch):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return out


def test_constant_schedule_keeps_the_base_rate() -> None:
    lrs = _lrs(TrainConfig(lr=0.002, epochs=3), steps_per_epoch=5)
    assert lrs == [pytest.approx(0.002)] * 15


def test_cosine_schedule_warms_up_then_decays_to_zero() -> None:
    cfg = TrainConfig(lr=0.01, epochs=10, lr_schedule="cosine", warmup_epochs=2)
    lrs = _lrs(cfg, steps_per_epoch=4)
    warmup = lrs[:8]
    assert warmup == pytest.approx([0.01 * (k + 1) / 8 for k in range(8)])
    decay = lrs[8:]
    assert decay[0] == pytest.approx(0.01)
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(decay))
    halfway = decay[len(decay) // 2]
    assert halfway == pytest.approx(0.005, rel=0.1)  # cos(pi/2): half the peak
    assert decay[-1] < 0.0005


def test_schedule_is_validated() -> None:
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig.model_validate({"lr_schedule": "linear"})
