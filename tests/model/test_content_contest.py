"""The content-contest loss (loss.content_contest): every item scored by its content alone, as new items compete."""

from __future__ import annotations

import pytest
import torch

from recmodel.data.batches import training_batch
from recmodel.data.splits import Split, training_windows
from recmodel.model.catalogue import Catalogue
from recmodel.training import objectives as objectives_module
from recmodel.training.config import ExperimentConfig
from recmodel.training.loop import build_model
from recmodel.training.objectives import TrainingObjective
from recmodel.training.sampling import StepItems
from tests.model.conftest import TINY

AUX_OFF = {k: {"enabled": False} for k in ("nicl", "placeholder", "noisy", "id_contrastive", "balance")}
MODEL = {"item_residual": True, "repeat_bias": False}


def _objective(split: Split, catalogue: Catalogue, loss: dict) -> TrainingObjective:
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate({**TINY, "model": {**TINY["model"], **MODEL}, "loss": {**AUX_OFF, **loss}})
    return TrainingObjective(build_model(cfg, split, catalogue), cfg.loss).eval()


def _inputs(split: Split) -> tuple:
    batch = training_batch(training_windows(split.train, 10)[:16])
    allowed = torch.from_numpy(split.train_items)
    return batch, allowed, allowed.float() / allowed.sum()


def test_contest_ignores_residuals_and_trains_only_the_content_path(
    synthetic_split: Split, synthetic_catalogue: Catalogue
) -> None:
    objective = _objective(
        synthetic_split, synthetic_catalogue, {"softmax": "full", "content_contest": {"enabled": True}}
    )
    batch, allowed, proposal = _inputs(synthetic_split)
    table = synthetic_catalogue.inputs()
    out = objective(batch, table, allowed, proposal)
    # zero residuals (their initial value): content alone is the whole item vector, so the contest is the main loss
    torch.testing.assert_close(out["content_contest"], out["main"])
    with torch.no_grad():
        objective.model.residual.weight.normal_(0.0, 0.5)
    out = objective(batch, table, allowed, proposal)
    assert not torch.isclose(out["content_contest"], out["main"])
    objective.zero_grad()
    out["content_contest"].backward()
    grads = {n: p.grad for n, p in objective.named_parameters() if p.grad is not None}
    assert "model.residual.weight" in grads  # through the users' history items only ...
    with torch.no_grad():
        history_rows = torch.unique(batch.items[batch.seq.mask])
        untouched = torch.ones(len(allowed), dtype=torch.bool)
        untouched[history_rows] = False
    assert grads["model.residual.weight"][untouched].abs().max() == 0  # ... never through the scored items
    assert any(n.startswith("model.projections") for n in grads)


def test_contest_weight_and_temperature_enter_the_total(synthetic_split: Split, synthetic_catalogue: Catalogue) -> None:
    batch, allowed, proposal = _inputs(synthetic_split)
    table = synthetic_catalogue.inputs()
    off = _objective(synthetic_split, synthetic_catalogue, {"softmax": "full"})(batch, table, allowed, proposal)
    assert "content_contest" not in off
    hot = _objective(
        synthetic_split, synthetic_catalogue, {"softmax": "full", "content_contest": {"enabled": True, "weight": 2.0}}
    )
    out = hot(batch, table, allowed, proposal)
    torch.testing.assert_close(out["loss"], off["loss"] + 2.0 * out["content_contest"])
    cold = _objective(
        synthetic_split,
        synthetic_catalogue,
        {"softmax": "full", "content_contest": {"enabled": True, "temperature": 4.0}},
    )
    assert not torch.isclose(cold(batch, table, allowed, proposal)["content_contest"], out["content_contest"])


def test_sampled_contest_with_every_item_drawn_once_is_the_full_one(
    synthetic_split: Split, synthetic_catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, allowed, proposal = _inputs(synthetic_split)
    every = torch.nonzero(allowed).squeeze(1)

    def once(parts: list[torch.Tensor], *_: object, **__: object) -> StepItems:
        extra = torch.cat([p.reshape(-1) for p in parts])
        return StepItems(torch.unique(torch.cat([every, extra])), every.clone(), torch.zeros(len(every)))

    monkeypatch.setattr(objectives_module.StepItems, "draw", staticmethod(once))
    values = []
    for softmax in ("full", "sampled"):
        objective = _objective(
            synthetic_split, synthetic_catalogue, {"softmax": softmax, "content_contest": {"enabled": True}}
        )
        with torch.no_grad():
            objective.model.residual.weight.normal_(0.0, 0.5)
        values.append(objective(batch, synthetic_catalogue.inputs(), allowed, proposal)["content_contest"])
    torch.testing.assert_close(values[1], values[0], rtol=1e-4, atol=1e-5)
