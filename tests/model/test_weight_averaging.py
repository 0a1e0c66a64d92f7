"""Training with an exponential moving average of the weights: the averaged weights are validated and shipped."""

from __future__ import annotations

import pytest
import torch

from recmodel.training.config import ExperimentConfig
from recmodel.training.loop import train, validate
from tests.model.conftest import TINY


def _train(split, catalogue, ema_decay: float):
    cfg = ExperimentConfig.model_validate(
        {**TINY, "train": {**TINY["train"], "epochs": 3, "patience": 3, "ema_decay": ema_decay}}
    )
    return train(cfg, split, catalogue)


@pytest.mark.parametrize("ema_decay", [0.0, 0.8])
def test_returned_weights_are_the_selected_ones(synthetic_split, synthetic_catalogue, ema_decay: float) -> None:
    result = _train(synthetic_split, synthetic_catalogue, ema_decay)
    best = result.history[result.best_epoch - 1]
    assert validate(result.model, synthetic_split, synthetic_catalogue)["ndcg@20"] == pytest.approx(
        best["valid/ndcg@20"]
    )
    assert result.best_valid == best["valid/ndcg@20"]


def test_averaged_weights_differ_from_raw_weights(synthetic_split, synthetic_catalogue) -> None:
    raw = _train(synthetic_split, synthetic_catalogue, 0.0).model.state_dict()
    averaged = _train(synthetic_split, synthetic_catalogue, 0.8).model.state_dict()
    assert raw.keys() == averaged.keys()
    moved = [k for k in raw if raw[k].is_floating_point() and not torch.allclose(raw[k], averaged[k])]
    assert moved, "the moving average left every weight equal to the raw weights"
    assert all(torch.isfinite(v).all() for v in averaged.values() if v.is_floating_point())


def test_ema_decay_must_be_below_one() -> None:
    with pytest.raises(ValueError, match="ema_decay"):
        ExperimentConfig.model_validate({"train": {"ema_decay": 1.0}})
