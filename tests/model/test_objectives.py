"""One training step of every objective: the switches select the terms, everything is finite and trained."""

from __future__ import annotations

import pytest
import torch

from ranker.data.batches import training_batch
from ranker.data.splits import training_windows
from ranker.training.config import ExperimentConfig
from ranker.training.loop import build_model
from ranker.training.objectives import TrainingObjective
from tests.model.conftest import TINY


def _step(split, catalogue, overrides: dict) -> tuple[dict, TrainingObjective]:
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate(
        {**TINY, "model": {**TINY["model"], **overrides.get("model", {})}, "loss": overrides.get("loss", {})}
    )
    objective = TrainingObjective(build_model(cfg, split, catalogue), cfg.loss).train()
    batch = training_batch(training_windows(split.train, 10)[:16])
    allowed = torch.from_numpy(split.train_items)
    proposal = allowed.float() / allowed.sum()
    out = objective(batch, catalogue.inputs(), allowed, proposal)
    out["loss"].backward()
    return out, objective


def test_full_objective_terms(synthetic_split, synthetic_catalogue) -> None:
    out, objective = _step(synthetic_split, synthetic_catalogue, {})
    assert {"main", "balance", "nicl", "placeholder", "noisy", "loss"} <= set(out)
    assert "id_contrastive" not in out  # ID-free model
    assert all(torch.isfinite(v).all() for v in out.values())
    assert out["contrib"].shape == (2,)
    model = objective.model
    for name in ("projections.text.proj.weight", "temporal.experts", "interactive.weights", "gap_embedding.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    ("overrides", "expected", "absent"),
    [
        ({"model": {"modalities": ["id", "text", "image"]}}, {"id_contrastive"}, set()),
        (
            {"loss": {k: {"enabled": False} for k in ("nicl", "placeholder", "noisy", "balance")}},
            {"main"},
            {"nicl", "placeholder", "noisy", "balance"},
        ),
        ({"loss": {"softmax": "sampled", "sampled_negatives": 8}}, {"main"}, set()),
        ({"model": {"simtier_bins": 5}}, {"simtier"}, set()),
    ],
)
def test_objective_switches(synthetic_split, synthetic_catalogue, overrides, expected, absent) -> None:
    out, _ = _step(synthetic_split, synthetic_catalogue, overrides)
    assert expected <= set(out) and not (absent & set(out))
    assert torch.isfinite(out["loss"])
