"""Sampled softmax (recmodel.training.sampling): agreement with the full softmax when every item is sampled, an
unbiased partition estimate and a consistent gradient, masked accidental hits, only the step's items embedded,
'auto' resolution, and a short training run that learns."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml

from encoders.features import ItemFeatures
from recmodel.data.batches import training_batch
from recmodel.data.loaders import load_ml100k_mm
from recmodel.data.splits import Split, leave_one_out, training_windows
from recmodel.model.catalogue import Catalogue
from recmodel.training import objectives as objectives_module
from recmodel.training.config import ExperimentConfig, LossConfig
from recmodel.training.loop import build_model, train
from recmodel.training.objectives import TrainingObjective
from recmodel.training.sampling import StepItems
from tests.model.conftest import TINY, random_features


def _every_item_once(items: torch.Tensor, extra: list[torch.Tensor]) -> StepItems:
    """A 'draw' whose negatives are each of ``items`` exactly once, uniform q = 1 / K: log(K q) = 0."""
    negatives = items.clone()
    parts = [negatives] + [e.reshape(-1) for e in extra]
    return StepItems(torch.unique(torch.cat(parts)), negatives, torch.zeros(len(negatives)))


def test_every_item_sampled_once_is_the_full_softmax_loss_and_gradient() -> None:
    torch.manual_seed(0)
    users = torch.randn(5, 4, requires_grad=True)
    items = torch.randn(7, 4, requires_grad=True)
    targets = torch.tensor([0, 3, 6, 3, 2])
    full = F.cross_entropy(users @ items.T, targets)
    full_grads = torch.autograd.grad(full, [users, items])
    step = _every_item_once(torch.arange(7), [targets])
    logits = step.corrected(step.scores(users, items, targets), targets)  # candidates are 0..6: rows = index
    sampled = F.cross_entropy(logits, torch.zeros(5, dtype=torch.long))
    sampled_grads = torch.autograd.grad(sampled, [users, items])
    torch.testing.assert_close(sampled, full)
    for a, b in zip(sampled_grads, full_grads, strict=True):
        torch.testing.assert_close(a, b)


def _scores_and_proposal() -> tuple[torch.Tensor, torch.Tensor, int]:
    scores = torch.tensor([1.5, -0.5, 2.0, 0.3, -1.0])
    proposal = torch.tensor([0.4, 0.25, 0.2, 0.1, 0.05])
    return scores, proposal, 3  # the positive


def test_logq_correction_makes_the_partition_estimate_unbiased() -> None:
    """Exact expectation over every draw of K = 2 negatives: exp(s_y) + sum_k exp(s_k) / (K q_k) over the
    non-hits has expectation Z = sum_i exp(s_i); without the correction it does not."""
    s, q, y = _scores_and_proposal()
    k = 2
    z = s.exp().sum().item()
    expected, uncorrected = 0.0, 0.0
    for draw in itertools.product(range(len(s)), repeat=k):
        p = math.prod(q[i].item() for i in draw)
        step = StepItems(torch.arange(len(s)), torch.tensor(draw), torch.log(q[list(draw)] * k))
        logits = step.corrected(torch.cat([s[y : y + 1], s[list(draw)]]).unsqueeze(0), torch.tensor([y]))
        expected += p * logits.exp().sum().item()
        kept = [i for i in draw if i != y]
        uncorrected += p * (math.exp(s[y]) + sum(math.exp(s[i]) for i in kept))
    assert expected == pytest.approx(z, rel=1e-6)
    assert abs(uncorrected - z) > 0.1 * z


def _expected_gradient(k: int, correct_positive: bool, trials: int = 3000) -> torch.Tensor:
    s, q, y = _scores_and_proposal()
    g = torch.Generator().manual_seed(0)
    total = torch.zeros_like(s)
    for _ in range(trials):
        logits = s.clone().requires_grad_()
        step = StepItems.draw([torch.tensor([y])], q, k, generator=g)
        out = step.corrected(torch.cat([logits[y : y + 1], logits[step.negatives]]).unsqueeze(0), torch.tensor([y]))
        if correct_positive:  # the variant this module replaced: the positive corrected as well
            out = out - torch.cat([torch.log(k * q[y : y + 1]), torch.zeros(k)])
        F.cross_entropy(out, torch.tensor([0])).backward()
        total += logits.grad
    return total / trials


def test_the_expected_gradient_tends_to_the_full_softmax_gradient() -> None:
    s, _, y = _scores_and_proposal()
    full = torch.softmax(s, 0) - F.one_hot(torch.tensor(y), len(s))
    error = (_expected_gradient(64, correct_positive=False) - full).abs().max().item()
    biased = (_expected_gradient(64, correct_positive=True) - full).abs().max().item()
    assert error < 0.01 < 0.05 < biased


def test_accidental_hits_are_masked_and_change_nothing_else() -> None:
    s, _, y = _scores_and_proposal()
    with_hit = StepItems(torch.arange(5), torch.tensor([0, y, 2]), torch.zeros(3))
    without = StepItems(torch.arange(5), torch.tensor([0, 2]), torch.zeros(2))
    a = with_hit.corrected(torch.cat([s[[y]], s[[0, y, 2]]]).unsqueeze(0), torch.tensor([y]))
    b = without.corrected(torch.cat([s[[y]], s[[0, 2]]]).unsqueeze(0), torch.tensor([y]))
    assert torch.isinf(a[0, 2]) and a[0, 2] < 0
    assert F.cross_entropy(a, torch.tensor([0])).item() == pytest.approx(F.cross_entropy(b, torch.tensor([0])).item())


def test_repeat_bias_lands_on_every_column_showing_a_history_item() -> None:
    step = StepItems(torch.arange(6), torch.tensor([4, 1, 4, 5]), torch.zeros(4))
    items = torch.tensor([[1, 4, 4], [2, 0, 0]])
    bias = torch.tensor([[1.0, 2.0, 0.5], [3.0, 0.0, 0.0]])
    out = step.repeat_bias(items, bias, torch.tensor([4, 2]))
    torch.testing.assert_close(out, torch.tensor([[2.5, 2.5, 1.0, 2.5, 0.0], [3.0, 0.0, 0.0, 0.0, 0.0]]))


def test_auto_resolves_by_catalogue_size_and_stays_out_of_old_dumps() -> None:
    loss = LossConfig()
    assert loss.softmax == "auto" and loss.full_softmax_max_items == 10_000
    assert loss.resolved_softmax(1_682) == "full" and loss.resolved_softmax(10_000) == "full"
    assert loss.resolved_softmax(10_001) == "sampled"
    assert LossConfig(softmax="full").resolved_softmax(10**7) == "full"
    assert "full_softmax_max_items" not in loss.model_dump() and "sampled_proposal" not in loss.model_dump()
    assert LossConfig(full_softmax_max_items=5).model_dump()["full_softmax_max_items"] == 5
    with pytest.raises(ValueError, match="simtier"):
        ExperimentConfig.model_validate({"model": {"simtier_bins": 5}, "loss": {"softmax": "sampled"}})


def _objective(split: Split, catalogue: Catalogue, loss: dict, model: dict) -> TrainingObjective:
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate({**TINY, "model": {**TINY["model"], **model}, "loss": loss})
    return TrainingObjective(build_model(cfg, split, catalogue), cfg.loss).eval()


def test_objective_with_every_item_sampled_matches_the_full_softmax(
    synthetic_split: Split, synthetic_catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole objective (candidate rows, residuals, repeat bias, balancing, distillation) in eval mode:
    sampled with every training item drawn once gives the full softmax's losses and gradients."""
    aux_off = {k: {"enabled": False} for k in ("nicl", "placeholder", "noisy", "id_contrastive")}
    aux_off["distill"] = {"enabled": True, "temperature": 2.0}
    model = {"repeat_bias": True, "item_residual": True, "impute_missing": True}
    batch = training_batch(training_windows(synthetic_split.train, 10)[:16])
    allowed = torch.from_numpy(synthetic_split.train_items)
    proposal = allowed.float() / allowed.sum()
    results = []
    for softmax in ("full", "sampled"):
        objective = _objective(synthetic_split, synthetic_catalogue, {"softmax": softmax, **aux_off}, model)
        with torch.no_grad():  # a repeat bias that matters: history items strongly up
            objective.model.repeat_bias.table.weight.fill_(0.3)
        monkeypatch.setattr(
            objectives_module.StepItems,
            "draw",
            staticmethod(lambda parts, *a, **k: _every_item_once(torch.nonzero(allowed).squeeze(1), parts)),
        )
        out = objective(batch, synthetic_catalogue.inputs(), allowed, proposal)
        out["loss"].backward()
        grads = {n: p.grad.clone() for n, p in objective.named_parameters() if p.grad is not None}
        results.append((out, grads))
    (full, full_grads), (sampled, sampled_grads) = results
    for key in ("main", "balance", "contrib", "distill"):
        torch.testing.assert_close(sampled[key], full[key], rtol=1e-4, atol=1e-5)
    assert full_grads.keys() == sampled_grads.keys()
    for name, grad in full_grads.items():
        torch.testing.assert_close(sampled_grads[name], grad, rtol=1e-3, atol=1e-5, msg=name)


def test_a_sampled_step_embeds_only_the_items_it_touches(
    synthetic_split: Split, synthetic_catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    objective = _objective(synthetic_split, synthetic_catalogue, {"softmax": "sampled", "sampled_negatives": 4}, {})
    objective.train()
    seen: list[int] = []
    original = objective.model.item_vectors
    monkeypatch.setattr(
        objective.model, "item_vectors", lambda items, **k: seen.append(len(items.text)) or original(items, **k)
    )
    batch = training_batch(training_windows(synthetic_split.train, 10)[:2])
    allowed = torch.from_numpy(synthetic_split.train_items)
    out = objective(batch, synthetic_catalogue.inputs(), allowed, allowed.float() / allowed.sum())
    assert torch.isfinite(out["loss"])
    touched = len(set(batch.items.flatten().tolist()) | set(batch.targets[batch.seq.mask].tolist()))
    assert seen and max(seen) <= touched + 4 + 2 * 10 < len(synthetic_catalogue)  # + negatives + noise items


def _chain_dataset(root: Path, n_items: int = 60, n_users: int = 120) -> Path:
    """Users walk the items in order from a random start (next item = this one + 1): a learnable pattern."""
    rng = np.random.default_rng(0)
    folder = root / "ml100k-mm"
    folder.mkdir(parents=True)
    rows = []
    for u in range(1, n_users + 1):
        start, t = int(rng.integers(n_items)), 880_000_000 + int(rng.integers(1_000_000))
        for step in range(12):
            t += 3_600
            rows.append((u, (start + step) % n_items + 1, 4.0, t))
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(
        folder / "interactions.csv", index=False
    )
    ids = range(1, n_items + 1)
    pd.DataFrame(
        {"item_id": ids, "title": [f"m{i}" for i in ids], "year": 1995, "genres": "Drama", "plot": "p", "image": ""}
    ).to_csv(folder / "items.csv", index=False)
    return folder


def test_sampled_training_learns_a_usable_model(tmp_path: Path) -> None:
    split = leave_one_out(load_ml100k_mm(_chain_dataset(tmp_path)), cold_fraction=0.0, seed=0, max_len=10)
    rng = np.random.default_rng(1)
    n = len(split.item_ids)
    text = rng.normal(size=(n, 384)).astype(np.float32)
    image = np.zeros((n, 1280), dtype=np.float32)
    features = ItemFeatures(split.item_ids, text, image, np.ones(n, dtype=bool), np.zeros(n, dtype=bool))
    catalogue = Catalogue.from_features(features)
    cfg = ExperimentConfig.model_validate(
        {
            **TINY,
            "model": {**TINY["model"], "modalities": ["text"], "item_residual": True, "repeat_bias": True},
            "loss": {"softmax": "sampled", "sampled_negatives": 16},
            "train": {**TINY["train"], "epochs": 8, "patience": 8, "lr": 0.01},
        }
    )
    result = train(cfg, split, catalogue)
    losses = [r["loss/main"] for r in result.history]
    assert losses[-1] < 0.6 * losses[0]
    assert result.best_valid > 0.5  # NDCG@20; a random ranking of 60 items scores about 0.1


def test_training_mode_objective_with_every_item_sampled_is_the_full_objective(
    synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """full.yaml's objective in training mode (residual dropout, modality dropouts, every auxiliary loss but the
    noisy-item one, whose random items are drawn at another point of the random stream): with every training
    item drawn once (log(K q) = 0) and the same random stream, the sampled path gives the full path's losses
    and gradients exactly."""
    split = leave_one_out(load_ml100k_mm(synthetic_root / "ml100k-mm"), cold_fraction=0.0, seed=0, max_len=10)
    allowed = torch.from_numpy(split.train_items)
    assert bool(allowed.all())  # candidates = the catalogue, so both paths draw the same random numbers
    catalogue = Catalogue.from_features(random_features(split.item_ids))
    full_yaml = yaml.safe_load((Path(__file__).parents[2] / "recmodel" / "configs" / "full.yaml").read_text())
    loss = {**full_yaml["loss"], "noisy": {"enabled": False}}
    model = {**TINY["model"], **{k: v for k, v in full_yaml["model"].items() if k != "dim"}}
    batch = training_batch(training_windows(split.train, 10)[:16])
    every = torch.nonzero(allowed).squeeze(1)
    monkeypatch.setattr(
        objectives_module.StepItems, "draw", staticmethod(lambda parts, *a, **k: _every_item_once(every, parts))
    )
    results = []
    for softmax in ("full", "sampled"):
        torch.manual_seed(0)
        cfg = ExperimentConfig.model_validate({**TINY, "model": model, "loss": {**loss, "softmax": softmax}})
        objective = TrainingObjective(build_model(cfg, split, catalogue), cfg.loss).train()
        with torch.no_grad():  # a repeat bias and residuals that matter
            objective.model.repeat_bias.table.weight.fill_(0.3)
            objective.model.residual.weight.normal_(0.0, 0.1)
        torch.manual_seed(1)
        out = objective(batch, catalogue.inputs(), allowed, allowed.float() / allowed.sum())
        out["loss"].backward()
        results.append((out, {n: p.grad.clone() for n, p in objective.named_parameters() if p.grad is not None}))
    (full, full_grads), (sampled, sampled_grads) = results
    assert {"main", "balance", "nicl", "placeholder", "distill", "loss"} <= set(full) and full.keys() == sampled.keys()
    for key in full:
        torch.testing.assert_close(sampled[key], full[key], rtol=1e-4, atol=1e-5, msg=key)
    assert full_grads.keys() == sampled_grads.keys() and "model.residual.weight" in full_grads
    for name, grad in full_grads.items():
        torch.testing.assert_close(sampled_grads[name], grad, rtol=1e-3, atol=1e-5, msg=name)


def test_mixed_proposal_draws_half_by_popularity_half_uniformly(
    synthetic_split: Split, synthetic_catalogue: Catalogue
) -> None:
    """'mixed': q = (popularity + uniform) / 2 over the training items, so no training item's importance weight
    1 / (K q) exceeds 2 N / K however rare it is (popularity alone gives a rare item's draw a weight of 1 / (K q))."""
    allowed = torch.from_numpy(synthetic_split.train_items)
    n, k = int(allowed.sum()), 4096
    peaked = torch.where(allowed, torch.full(allowed.shape, 1e-4), torch.zeros(())).index_fill(0, torch.tensor([0]), 1)
    peaked = peaked / peaked.sum()  # one item holds nearly all the popularity mass
    batch = training_batch(training_windows(synthetic_split.train, 10)[:4])
    targets = batch.targets[batch.seq.mask]
    draws = {}
    for proposal in ("popularity", "mixed"):
        objective = _objective(synthetic_split, synthetic_catalogue, {"softmax": "sampled", "sampled_negatives": k,
                                                                       "sampled_proposal": proposal}, {})  # fmt: skip
        torch.manual_seed(0)
        draws[proposal] = objective._draw(batch, targets, allowed, peaked)
    mixed, popular = draws["mixed"], draws["popularity"]
    assert bool(allowed[mixed.negatives].all())
    assert (mixed.negatives == 0).float().mean().item() == pytest.approx(0.5, abs=0.03)  # the popularity half
    assert len(torch.unique(mixed.negatives)) == n  # the uniform half reaches every training item
    assert torch.exp(-mixed.log_expected).max().item() <= 2 * n / k * (1 + 1e-4)
    assert torch.exp(-popular.log_expected).max().item() > 20 * n / k  # what the mixture avoids
