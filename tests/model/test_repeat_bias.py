"""Repeat bias: hand-checked pair biases, summed duplicates, the training loss it enters, and offline/serving parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recmodel.data.batches import eval_batch, training_batch
from recmodel.data.splits import Split, training_windows
from recmodel.model.artifact import save_artifact
from recmodel.model.catalogue import Catalogue
from recmodel.model.recommender import Recommender
from recmodel.model.repeat_bias import RepeatBias, add_repeat_bias
from recmodel.model.serving import ServingModel
from recmodel.model.temporal import log_bucket
from recmodel.training.config import ExperimentConfig
from recmodel.training.loop import build_model
from recmodel.training.objectives import TrainingObjective
from recmodel.training.scoring import score_and_users, score_cases

SECOND = 1000


def _bias_equal_to_bucket() -> RepeatBias:
    bias = RepeatBias(interval_scale=1.0, interval_buckets=16, scale=1.0)
    with torch.no_grad():
        bias.table.weight.copy_(torch.arange(bias.table.num_embeddings, dtype=torch.float32).unsqueeze(1))
    return bias


def test_pair_bias_is_causal_bucketed_and_zero_at_pads() -> None:
    bias = _bias_equal_to_bucket()
    times = torch.tensor([[0, 1 * SECOND, 7 * SECOND, 0]])
    mask = torch.tensor([[True, True, True, False]])
    request = torch.tensor([[1 * SECOND, 7 * SECOND, 15 * SECOND, 15 * SECOND]])
    out = bias.pair_bias(times, mask, request)[0]
    # bucket = floor(log2(seconds + 1)) + 2: 1 s -> 3, 7 s -> 5, 6 s -> 4, 15 s -> 6, 14 s -> 5, 8 s -> 5
    expected = torch.tensor(
        [
            [3.0, 0.0, 0.0, 0.0],
            [5.0, 4.0, 0.0, 0.0],
            [6.0, 5.0, 5.0, 0.0],
            [6.0, 5.0, 5.0, 0.0],
        ]
    )
    torch.testing.assert_close(out, expected)
    last = bias.last_position(times, mask, torch.tensor([15 * SECOND]))
    torch.testing.assert_close(last[0], expected[2])
    assert log_bucket(torch.tensor([14 * SECOND]), 1.0, 16).item() == 5


def test_add_repeat_bias_sums_an_items_positions_and_leaves_others() -> None:
    scores = torch.zeros(2, 5)
    items = torch.tensor([[1, 3, 1], [0, 0, 0]])
    bias = torch.tensor([[-1.0, 2.0, -0.5], [4.0, 0.0, 0.0]])  # row 2: one event on item 0, then pads (bias 0)
    out = add_repeat_bias(scores, items, bias)
    torch.testing.assert_close(out, torch.tensor([[0.0, -1.5, 0.0, 2.0, 0.0], [4.0, 0.0, 0.0, 0.0, 0.0]]))


def test_sampled_softmax_takes_the_repeat_bias() -> None:
    """The sampled softmax adds the bias to its sampled columns (tests/model/test_sampled_softmax.py)."""
    cfg = ExperimentConfig.model_validate({"model": {"repeat_bias": True}, "loss": {"softmax": "sampled"}})
    assert cfg.model.repeat_bias and cfg.loss.softmax == "sampled"


@pytest.fixture(scope="module")
def model(synthetic_split: Split, synthetic_catalogue: Catalogue) -> Recommender:
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate(
        {
            "data": {"max_len": 10},
            "model": {"dim": 8, "moe_experts": 2, "temporal_experts": 2, "layers": 1, "repeat_bias": True},
        }
    )
    return build_model(cfg, synthetic_split, synthetic_catalogue).eval()


def _set_bias(model: Recommender, value: float) -> None:
    """Every gap's bias set to ``value`` (in score units: the table holds value / scale)."""
    assert model.repeat_bias is not None and model.repeat_bias.scale == 10.0  # the config's default
    with torch.no_grad():
        model.repeat_bias.table.weight.fill_(value / model.repeat_bias.scale)


def _main_loss(model: Recommender, split: Split, catalogue: Catalogue, windows: int) -> torch.Tensor:
    """The next-item softmax loss (no dropout) on the first ``windows`` training windows without a repeated item."""
    unique = [w for w in training_windows(split.train, 10) if len(set(w.items)) == len(w.items)][:windows]
    assert len(unique) >= 4
    cfg = ExperimentConfig.model_validate({"loss": {"modality_dropout": 0.0, "step_modality_dropout": 0.0}}).loss
    objective = TrainingObjective(model, cfg).eval()
    allowed = torch.ones(len(catalogue), dtype=torch.bool)
    proposal = torch.full((len(catalogue),), 1.0 / len(catalogue))
    torch.manual_seed(0)
    return objective(training_batch(unique), catalogue.inputs(), allowed, proposal)["main"]


def test_training_loss_counts_the_bias_on_each_prefix(
    model: Recommender, synthetic_split: Split, synthetic_catalogue: Catalogue
) -> None:
    """With no repeats in the windows, a large positive bias makes every history item a strong wrong answer
    (the loss rises) and a large negative one takes them out of the competition (the loss falls)."""
    losses = {}
    for value in (-30.0, 0.0, 30.0):
        _set_bias(model, value)
        with torch.no_grad():
            losses[value] = _main_loss(model, synthetic_split, synthetic_catalogue, 16).item()
    _set_bias(model, 0.0)
    assert losses[-30.0] < losses[0.0] < losses[30.0]
    assert losses[30.0] > 20.0  # every target is outscored by about 30 by each history item


def test_a_learned_negative_bias_comes_from_data_without_repeats(
    model: Recommender, synthetic_split: Split, synthetic_catalogue: Catalogue
) -> None:
    model.zero_grad()
    _main_loss(model, synthetic_split, synthetic_catalogue, 32).backward()
    assert model.repeat_bias is not None
    grad = model.repeat_bias.table.weight.grad.squeeze(1)
    used = grad != 0
    assert used.any() and (grad[used] > 0).all()  # gradient descent lowers every bias the data used
    model.zero_grad()


def test_offline_scores_and_serving_add_the_same_history_bias(
    model: Recommender, synthetic_split: Split, synthetic_catalogue: Catalogue, tmp_path: Path
) -> None:
    split, catalogue = synthetic_split, synthetic_catalogue
    _set_bias(model, 0.0)
    plain, _ = score_and_users(model, catalogue, split.test)
    assert model.repeat_bias is not None
    with torch.no_grad():
        model.repeat_bias.table.weight.copy_(torch.linspace(-3.0, 3.0, model.repeat_bias.table.num_embeddings)[:, None])
    biased = score_cases(model, catalogue, split.test)
    save_artifact(tmp_path / "art", model, catalogue, ["default"])
    serving = ServingModel.load(tmp_path / "art")
    assert serving.repeat_bias
    batch = eval_batch(split.test, np.arange(len(split.test)))
    idx, times, lengths = batch.items.numpy(), batch.seq.times_ms.numpy(), batch.lengths.numpy()
    bias = serving.history_bias(times, lengths, split.test.target_times_ms)
    assert bias is not None and bias.shape == idx.shape
    assert (bias[~batch.seq.mask.numpy()] == 0).all()
    expected = plain.copy()
    for row in range(len(idx)):
        np.add.at(expected[row], idx[row, : lengths[row]], bias[row, : lengths[row]])
    np.testing.assert_allclose(biased, expected, rtol=1e-5, atol=1e-5)
    changed = np.abs(biased - plain) > 1e-6
    for row in range(len(idx)):  # only the row's history items moved
        assert set(np.nonzero(changed[row])[0]) <= set(idx[row, : lengths[row]].tolist())
    _set_bias(model, 0.0)


def test_serving_bias_covers_only_the_most_recent_max_len_events(
    model: Recommender, synthetic_catalogue: Catalogue, tmp_path: Path
) -> None:
    _set_bias(model, -2.0)
    save_artifact(tmp_path / "art", model, synthetic_catalogue, ["default"])
    _set_bias(model, 0.0)
    serving = ServingModel.load(tmp_path / "art")
    length = serving.max_len + 3
    times = np.arange(length, dtype=np.int64)[None] * 60_000
    bias = serving.history_bias(times, np.array([length]), np.array([times[0, -1] + 60_000]))
    assert bias is not None
    np.testing.assert_array_equal(bias[0, :3], 0.0)
    np.testing.assert_allclose(bias[0, 3:], -2.0)
    with pytest.raises(ValueError, match="lengths"):
        serving.history_bias(times, np.array([length + 1]), np.array([0]))


def test_an_artifact_without_repeat_bias_has_none(
    synthetic_split: Split, synthetic_catalogue: Catalogue, tmp_path: Path
) -> None:
    cfg = ExperimentConfig.model_validate({"data": {"max_len": 10}, "model": {"dim": 8, "layers": 1}})
    plain = build_model(cfg, synthetic_split, synthetic_catalogue)
    assert plain.repeat_bias is None
    save_artifact(tmp_path / "art", plain, synthetic_catalogue, ["default"])
    serving = ServingModel.load(tmp_path / "art")
    assert not serving.repeat_bias
    assert serving.history_bias(np.zeros((1, 2), np.int64), np.array([2]), np.array([0])) is None
