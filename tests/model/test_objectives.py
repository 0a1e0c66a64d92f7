"""One training step of every objective: the switches select the terms, everything is finite and trained."""

from __future__ import annotations

import pytest
import torch

from recmodel.data.batches import training_batch
from recmodel.data.splits import training_windows
from recmodel.training.config import ExperimentConfig
from recmodel.training.loop import build_model
from recmodel.training.objectives import TrainingObjective
from tests.model.conftest import TINY


def _step(split, catalogue, overrides: dict) -> tuple[dict, TrainingObjective]:
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate(
        {**TINY, "model": {**TINY["model"], **overrides.get("model", {})}, "loss": overrides.get("loss", {})}
    )
    objective = TrainingObjective(build_model(cfg, split, catalogue), cfg.loss).train()
    batch = training_batch(training_windows(split.train, 10)[:16])
    allowed = torch.from_numpy(split.train_items)
    counts = torch.zeros(len(allowed))
    for seq in split.train:
        counts.index_add_(0, torch.from_numpy(seq.items), torch.ones(len(seq.items)))
    proposal = counts / counts.sum()  # training item frequencies, as in the training loop
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


def test_modality_dropout_trains_the_imputers(synthetic_split, synthetic_catalogue) -> None:
    out, objective = _step(
        synthetic_split, synthetic_catalogue, {"model": {"impute_missing": True}, "loss": {"modality_dropout": 0.5}}
    )
    assert torch.isfinite(out["loss"])
    params = dict(objective.model.named_parameters())
    for name in ("imputers.text.weight", "imputers.image.weight"):
        assert params[name].grad is not None and params[name].grad.abs().sum() > 0, name


def test_popularity_correction_changes_the_training_loss(synthetic_split, synthetic_catalogue) -> None:
    plain, _ = _step(synthetic_split, synthetic_catalogue, {"loss": {"popularity_correction": 0.0}})
    corrected, _ = _step(synthetic_split, synthetic_catalogue, {"loss": {"popularity_correction": 1.0}})
    assert torch.isfinite(corrected["main"]) and not torch.isclose(plain["main"], corrected["main"])


def _objective(split, catalogue, loss: dict, model: dict | None = None) -> TrainingObjective:
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate({**TINY, "model": {**TINY["model"], **(model or {})}, "loss": loss})
    return TrainingObjective(build_model(cfg, split, catalogue), cfg.loss).train()


def _inputs(split):
    batch = training_batch(training_windows(split.train, 10)[:16])
    allowed = torch.from_numpy(split.train_items)
    return batch, allowed, allowed.float() / allowed.sum()


def test_distillation_is_zero_when_the_student_sees_what_the_teacher_sees(synthetic_split, synthetic_catalogue):
    loss = {"distill": {"enabled": True, "temperature": 2.0}, "step_modality_dropout": 0.0, "modality_dropout": 0.0}
    # no dropout, so teacher and student differ only in what they see
    objective = _objective(synthetic_split, synthetic_catalogue, loss, {"impute_missing": True, "dropout": 0.0})
    batch, allowed, proposal = _inputs(synthetic_split)
    out = objective(batch, synthetic_catalogue.inputs(), allowed, proposal)
    assert out["distill"] > 0  # images present: the image-free student differs from the teacher
    out["distill"].backward()
    params = dict(objective.model.named_parameters())
    for name in ("projections.text.proj.weight", "imputers.image.weight"):
        assert params[name].grad is not None and params[name].grad.abs().sum() > 0, name
    # with no image anywhere the student is the teacher: KL(p || p) = 0
    no_images = synthetic_catalogue.without("image").inputs()
    assert objective(batch, no_images, allowed, proposal)["distill"].item() == pytest.approx(0.0, abs=1e-5)
