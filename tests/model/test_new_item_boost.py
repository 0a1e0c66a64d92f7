"""New-item boost: the score spread it scales by, its validation choice, and serving it as one extra column."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from recmodel.data.batches import eval_batch
from recmodel.data.splits import Split
from recmodel.model.artifact import load_artifact
from recmodel.model.catalogue import Catalogue
from recmodel.model.new_item_boost import BOOST_FILE, NewItemBoost
from recmodel.model.recommender import Recommender
from recmodel.model.serving import ServingModel
from recmodel.training.boost_selection import item_matrix, select_new_item_boost
from recmodel.training.config import ExperimentConfig
from recmodel.training.experiment import evaluate_test
from recmodel.training.loop import build_model
from recmodel.training.scoring import case_ranks, score_and_users, score_cases


def _random_boost(beta: float = 1.0, n: int = 50, d: int = 6) -> tuple[NewItemBoost, np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    items = rng.normal(size=(n, d)) * np.linspace(0.2, 3.0, d)
    ids = [f"i{k}" for k in range(n)]
    trained = np.arange(n) % 4 != 0
    return NewItemBoost.fit(items, ids, trained, beta), items, ids, trained


def test_spread_is_the_std_of_each_users_scores_over_trained_items() -> None:
    boost, items, _, trained = _random_boost()
    users = np.random.default_rng(1).normal(size=(5, items.shape[1]))
    expected = (users @ items[trained].T).std(axis=1, ddof=1)
    np.testing.assert_allclose(boost.spread(users), expected, rtol=1e-10)
    np.testing.assert_allclose(boost.user_column(users), expected.astype(np.float32), rtol=1e-6)


def test_item_column_marks_untrained_and_unknown_items() -> None:
    boost, _, ids, trained = _random_boost()
    np.testing.assert_array_equal(boost.item_column(ids), (~trained).astype(np.float32))
    assert boost.item_column(["never-seen", ids[1]]).tolist() == [1.0, 0.0]


def test_save_load_round_trip_and_beta_zero_means_no_boost(tmp_path: Path) -> None:
    boost, *_ = _random_boost(beta=0.7)
    boost.save(tmp_path)
    loaded = NewItemBoost.load(tmp_path)
    assert loaded is not None and loaded.beta == pytest.approx(0.7) and loaded.trained_ids == boost.trained_ids
    np.testing.assert_array_equal(loaded.covariance, boost.covariance)
    boost.with_beta(0.0).save(tmp_path)
    assert NewItemBoost.load(tmp_path) is None
    assert NewItemBoost.load(tmp_path / "elsewhere") is None


def test_bad_fit_arguments_are_named() -> None:
    items = np.zeros((3, 2))
    with pytest.raises(ValueError, match="beta"):
        NewItemBoost.fit(items, ["a", "b", "c"], np.ones(3, bool), float("nan"))
    # a negative beta lowers new items (with a content channel, only the well-matching ones then rise)
    assert NewItemBoost.fit(np.eye(3), ["a", "b", "c"], np.ones(3, bool), -1.0).beta == -1.0
    with pytest.raises(ValueError, match="trained"):
        NewItemBoost.fit(items, ["a", "b", "c"], np.array([True, False, False]), 1.0)
    with pytest.raises(ValueError, match="item_ids"):
        NewItemBoost.fit(items, ["a"], np.ones(3, bool), 1.0)


@pytest.fixture(scope="module")
def model(synthetic_split: Split, synthetic_catalogue: Catalogue) -> Recommender:
    """An untrained (randomly initialised) model: the boost's arithmetic does not depend on training."""
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate(
        {"data": {"max_len": 10}, "model": {"dim": 8, "moe_experts": 2, "temporal_experts": 2, "layers": 1}}
    )
    return build_model(cfg, synthetic_split, synthetic_catalogue).eval()


def test_boosted_scores_raise_exactly_the_untrained_items(
    model: Recommender, synthetic_split: Split, synthetic_catalogue: Catalogue
) -> None:
    split, catalogue = synthetic_split, synthetic_catalogue
    boost = NewItemBoost.fit(item_matrix(model, catalogue), catalogue.item_ids, split.train_items, 0.8)
    plain, users = score_and_users(model, catalogue, split.test)
    boosted = score_cases(model, catalogue, split.test, boost=boost)
    spread = (users.astype(np.float64) @ item_matrix(model, catalogue)[split.train_items].T).std(axis=1, ddof=1)
    lift = boosted - plain
    np.testing.assert_allclose(lift[:, split.train_items], 0.0, atol=1e-6)
    new = ~split.train_items
    np.testing.assert_allclose(lift[:, new], np.broadcast_to(0.8 * spread[:, None], lift[:, new].shape), rtol=1e-4)
    cold = split.test.cold
    assert (case_ranks(boosted, split.test)[cold] <= case_ranks(plain, split.test)[cold]).all()


def test_selection_keeps_the_last_beta_within_the_warm_budget(
    model: Recommender, synthetic_split: Split, synthetic_catalogue: Catalogue
) -> None:
    assert select_new_item_boost(model, synthetic_split, synthetic_catalogue, 0.0) == (None, [])
    grid = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    boost, table = select_new_item_boost(model, synthetic_split, synthetic_catalogue, 0.2, grid)
    chosen = boost.beta if boost is not None else 0.0
    assert [row["beta"] for row in table] == [0.0, *grid]
    floor = 0.8 * table[0]["warm"]
    within = [row["beta"] for row in table if row["warm"] >= floor]
    assert chosen == max(within)  # the largest within budget, even past a beta over it
    assert all(0.0 <= row["cold"] <= 1.0 for row in table)
    # a very large boost puts the untrained items first: cold targets rise, warm ones fall
    assert table[-1]["cold"] >= table[0]["cold"] and table[-1]["warm"] <= table[0]["warm"]


def test_the_image_free_budget_also_bounds_the_chosen_beta(
    model: Recommender, synthetic_split: Split, synthetic_catalogue: Catalogue
) -> None:
    grid = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    warm_only, table = select_new_item_boost(model, synthetic_split, synthetic_catalogue, 0.2, grid)
    assert "no_images" not in table[0]
    both, table = select_new_item_boost(
        model, synthetic_split, synthetic_catalogue, 0.2, grid, max_image_free_cost=0.05
    )
    chosen = both.beta if both is not None else 0.0
    warm_floor, image_free_floor = 0.8 * table[0]["warm"], 0.95 * table[0]["no_images"]
    within = [r["beta"] for r in table if r["warm"] >= warm_floor and r["no_images"] >= image_free_floor]
    assert chosen == max(within, default=0.0)
    assert warm_only is not None and chosen < warm_only.beta  # here the image-free budget is the binding one
    # the image-free scores are other scores: the same beta costs them differently
    assert [r["no_images"] for r in table] != [r["warm"] for r in table]


def test_evaluate_test_reports_the_unboosted_cold_split_too(
    model: Recommender, synthetic_split: Split, synthetic_catalogue: Catalogue
) -> None:
    boost = NewItemBoost.fit(
        item_matrix(model, synthetic_catalogue), synthetic_catalogue.item_ids, synthetic_split.train_items, 50.0
    )
    plain = evaluate_test(model, synthetic_split, synthetic_catalogue)
    boosted = evaluate_test(model, synthetic_split, synthetic_catalogue, boost)
    assert boosted["cold_unboosted"] == plain["cold"] == plain["cold_unboosted"]
    # beta 50 puts the untrained items on top: each cold target ranks within them
    assert int((~synthetic_split.train_items).sum()) <= 20 and boosted["cold"]["hr@20"] == 1.0
    assert boosted["warm"]["hr@5"] <= plain["warm"]["hr@5"]


def test_serving_appends_the_boost_column_and_matches_offline(
    model: Recommender, synthetic_split: Split, synthetic_catalogue: Catalogue, tmp_path: Path
) -> None:
    from recmodel.model.artifact import save_artifact

    split, catalogue = synthetic_split, synthetic_catalogue
    boost = NewItemBoost.fit(item_matrix(model, catalogue), catalogue.item_ids, split.train_items, 0.6)
    save_artifact(tmp_path / "art", model, catalogue, ["default"], boost)
    assert (tmp_path / "art" / BOOST_FILE).exists() and load_artifact(tmp_path / "art").boost is not None
    serving = ServingModel.load(tmp_path / "art")
    assert serving.dim == model.cfg.user_dim + 1 and serving.new_item_boost == pytest.approx(0.6)
    with pytest.raises(ValueError, match="item_ids"):
        serving.item_vectors(catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image)
    items = serving.item_vectors(
        catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image, item_ids=catalogue.item_ids
    )
    np.testing.assert_array_equal(items[:, -1], (~split.train_items).astype(np.float32))
    batch = eval_batch(split.test, np.arange(len(split.test)))
    idx = batch.items.numpy()
    times, lengths = batch.seq.times_ms.numpy(), batch.lengths.numpy()
    users = serving.user_vectors(
        catalogue.text[idx],
        catalogue.image[idx],
        catalogue.has_text[idx],
        catalogue.has_image[idx],
        times,
        lengths,
        split.test.target_times_ms,
    )
    offline = score_cases(model, catalogue, split.test, boost=boost)
    np.testing.assert_allclose(users @ items.T, offline, rtol=1e-4, atol=1e-4)
    # the cached-vector path takes rows of item_vectors (boost column included) and gives the same users
    history = np.where(batch.seq.mask.numpy()[..., None], items[idx], 0.0).astype(np.float32)
    again = serving.user_vectors_from_item_vectors(history, times, lengths, split.test.target_times_ms)
    np.testing.assert_allclose(again, users, rtol=1e-5, atol=1e-5)
    # an artifact saved again without a boost drops the stale file
    shutil.copytree(tmp_path / "art", tmp_path / "plain")
    save_artifact(tmp_path / "plain", model, catalogue, ["default"])
    assert not (tmp_path / "plain" / BOOST_FILE).exists() and ServingModel.load(tmp_path / "plain").dim == 2 * 8
