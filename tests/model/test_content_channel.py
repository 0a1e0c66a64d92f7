"""The new-item content channel and dual-path items: arithmetic, validation choice, artifact round trip, and
serving that gives exactly the offline scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recmodel.data.batches import eval_batch
from recmodel.data.splits import Split
from recmodel.model.artifact import save_artifact
from recmodel.model.catalogue import Catalogue
from recmodel.model.content_channel import ContentChannel, ContentCodes
from recmodel.model.new_item_boost import NewItemBoost
from recmodel.model.recommender import Recommender
from recmodel.model.serving import ServingModel
from recmodel.training.boost_selection import fit_content_codes, item_matrix, select_new_item_boost
from recmodel.training.config import ExperimentConfig
from recmodel.training.loop import build_model
from recmodel.training.scoring import case_profiles, score_and_users, score_cases


@pytest.fixture(scope="module")
def catalogue(synthetic_split: Split, synthetic_catalogue: Catalogue) -> Catalogue:
    return synthetic_catalogue.with_train_counts(synthetic_split.train_counts())


@pytest.fixture(scope="module")
def model(synthetic_split: Split, catalogue: Catalogue) -> Recommender:
    """An untrained dual-path model with random (non-zero) residuals: serving must reproduce them exactly."""
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate(
        {
            "data": {"max_len": 10},
            "model": {"dim": 8, "moe_experts": 2, "temporal_experts": 2, "layers": 1, "item_residual": True},
        }
    )
    model = build_model(cfg, synthetic_split, catalogue).eval()
    with torch.no_grad():
        model.residual.weight.normal_(0, 0.5)
    return model


def _channel(split: Split, catalogue: Catalogue, weight: float = 2.0, profile_len: int = 3) -> ContentChannel:
    return ContentChannel(fit_content_codes(catalogue, split.train_items, 8), weight, profile_len, 0.5)


def _served(serving: ServingModel, catalogue: Catalogue, split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The served item vectors of the catalogue, the test cases' right-padded history vectors and their users."""
    items = serving.item_vectors(
        catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image, item_ids=catalogue.item_ids
    )
    batch = eval_batch(split.test, np.arange(len(split.test)))
    history = np.where(batch.seq.mask.numpy()[..., None], items[batch.items.numpy()], 0.0).astype(np.float32)
    times, lengths = batch.seq.times_ms.numpy(), batch.lengths.numpy()
    return items, history, serving.user_vectors_from_item_vectors(history, times, lengths, split.test.target_times_ms)


def test_codes_are_unit_vectors_fitted_on_trained_items(synthetic_split: Split, catalogue: Catalogue) -> None:
    codes = fit_content_codes(catalogue, synthetic_split.train_items, 8)
    q = codes.encode(catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image)
    assert q.shape == (len(catalogue), 8)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    # a near-duplicate's code is closer than any other item's
    text = catalogue.text.copy()
    text[0] += 0.01 * np.random.default_rng(0).normal(size=text.shape[1]).astype(np.float32)
    q2 = codes.encode(text[:1], catalogue.image[:1], catalogue.has_text[:1], catalogue.has_image[:1])
    assert int(np.argmax(q @ q2[0])) == 0
    with pytest.raises(ValueError, match="dim"):
        ContentCodes.fit(catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image, catalogue.trained, 0)


def test_profiles_average_the_last_items_of_each_row() -> None:
    codes = ContentCodes(np.zeros(2), np.zeros(2), np.zeros(4), np.eye(2, 4, dtype=np.float32))
    channel = ContentChannel(codes, 1.0, 2, 1.0)
    history = np.array([[[1, 0], [0, 1], [1, 1], [9, 9]], [[2, 2], [0, 0], [0, 0], [0, 0]]], dtype=np.float32)
    profiles = channel.profiles(history, np.array([3, 1]))
    np.testing.assert_allclose(profiles, [[0.5, 1.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match="profile_len"):
        ContentChannel(codes, 1.0, 0, 1.0)


def test_the_content_term_lifts_only_new_items_by_their_match(
    model: Recommender, synthetic_split: Split, catalogue: Catalogue
) -> None:
    split = synthetic_split
    boost = NewItemBoost.fit(item_matrix(model, catalogue), catalogue.item_ids, split.train_items, 0.0)
    boost = boost.with_content(_channel(split, catalogue))
    plain, users = score_and_users(model, catalogue, split.test)
    lifted = score_cases(model, catalogue, split.test, boost=boost)
    np.testing.assert_allclose((lifted - plain)[:, split.train_items], 0.0, atol=1e-5)
    codes = boost.codes(catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image)
    profiles = case_profiles(boost, codes, split.test)
    expected = boost.spread(users)[:, None] * 2.0 / 0.5 * (profiles @ codes.T)
    new = ~split.train_items
    np.testing.assert_allclose((lifted - plain)[:, new], expected[:, new], rtol=1e-4, atol=1e-5)


def test_residuals_only_on_trained_items(model: Recommender, synthetic_split: Split, catalogue: Catalogue) -> None:
    table = catalogue.inputs()
    with torch.no_grad():
        content = torch.cat(model.item_vectors(table, residual_keep=torch.zeros(len(catalogue), dtype=torch.bool)), -1)
    vectors = item_matrix(model, catalogue)
    new = ~synthetic_split.train_items
    np.testing.assert_allclose(vectors[new], content.numpy()[new], atol=1e-6)
    assert np.abs(vectors[~new] - content.numpy()[~new]).max() > 0.1


def test_selection_chooses_content_beta_and_keeps_the_budget(
    model: Recommender, synthetic_split: Split, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recmodel.training.boost_selection as selection

    monkeypatch.setattr(selection, "MIN_COLD_CASES", 1)
    boost, table = select_new_item_boost(
        model, synthetic_split, catalogue, 0.3, max_image_free_cost=0.3, content_dims=8
    )
    reference = table[0]
    assert {"profile_len", "weight", "cold_only"} <= set(table[1])
    rows = table[1:]
    assert {row["weight"] for row in rows} == set(selection.WEIGHT_GRID)
    if boost is not None:
        weight = boost.content.weight if boost.content is not None else 0.0
        profile = boost.content.profile_len if boost.content is not None else 0
        chosen = next(
            r for r in rows if r["beta"] == boost.beta and r["weight"] == weight and r["profile_len"] == profile
        )
        assert chosen["warm"] >= 0.7 * reference["warm"] - 1e-12
        assert chosen["no_images"] >= 0.7 * reference["no_images"] - 1e-12


def test_serving_reproduces_offline_scores_with_residuals_and_content(
    model: Recommender, synthetic_split: Split, catalogue: Catalogue, tmp_path: Path
) -> None:
    split = synthetic_split
    boost = NewItemBoost.fit(item_matrix(model, catalogue), catalogue.item_ids, split.train_items, -0.4)
    boost = boost.with_content(_channel(split, catalogue))
    save_artifact(tmp_path / "art", model, catalogue, ["default"], boost)
    serving = ServingModel.load(tmp_path / "art")
    assert serving.dim == model.cfg.user_dim + 1 + 2 * 8
    items, _, users = _served(serving, catalogue, split)
    batch = eval_batch(split.test, np.arange(len(split.test)))
    idx = batch.items.numpy()
    times, lengths = batch.seq.times_ms.numpy(), batch.lengths.numpy()
    offline = score_cases(model, catalogue, split.test, boost=boost)
    np.testing.assert_allclose(users @ items.T, offline, rtol=1e-4, atol=1e-4)
    # the content codes' block is zero in every user vector, so scoring may skip it (the index does)
    cols = serving.score_columns
    assert cols is not None and len(cols) == serving.dim - 8
    skipped = np.setdiff1d(np.arange(serving.dim), cols)
    assert (users[:, skipped] == 0).all() and (items[:, skipped] != 0).any()
    np.testing.assert_allclose(users[:, cols] @ items[:, cols].T, offline, rtol=1e-4, atol=1e-4)
    # an unknown id is a new item: content alone, no residual, the boost columns set
    fresh = serving.item_vectors(
        catalogue.text[:1], catalogue.image[:1], catalogue.has_text[:1], catalogue.has_image[:1], item_ids=["brand-new"]
    )
    with torch.no_grad():
        content = torch.cat(
            model.item_vectors(catalogue.inputs(), residual_keep=torch.zeros(len(catalogue), dtype=torch.bool)), -1
        )
    np.testing.assert_allclose(fresh[0, : model.cfg.user_dim], content[0].numpy(), atol=1e-5)
    assert fresh[0, model.cfg.user_dim] == 1.0
    # the raw-feature path needs the history's ids for the residuals: a clear error without them, the same users
    # with them
    raw = (
        catalogue.text[idx], catalogue.image[idx], catalogue.has_text[idx], catalogue.has_image[idx],
        times, lengths, split.test.target_times_ms,
    )  # fmt: skip
    with pytest.raises(ValueError, match="history_item_ids"):
        serving.user_vectors(*raw)
    ids = [[catalogue.item_ids[j] for j in row[:n]] for row, n in zip(idx, lengths, strict=True)]
    np.testing.assert_allclose(serving.user_vectors(*raw, history_item_ids=ids), users, rtol=1e-5, atol=1e-5)


def test_max_match_is_the_closest_of_the_last_items() -> None:
    codes = ContentCodes(np.zeros(2), np.zeros(2), np.zeros(4), np.eye(2, 4, dtype=np.float32))
    channel = ContentChannel(codes, 1.0, 2, 1.0, "max")
    assert not channel.linear
    history = np.array([[[1, 0], [0, 1], [0.6, 0.8], [9, 9]], [[0, 1], [0, 0], [0, 0], [0, 0]]], dtype=np.float32)
    items = np.array([[1, 0], [0, 1], [-1, 0]], dtype=np.float32)
    match = channel.match(history, np.array([3, 1]), items)
    # row 0: its last two items are [0, 1] and [0.6, 0.8] (the padding [9, 9] and the first item do not count)
    np.testing.assert_allclose(match, [[0.6, 1.0, 0.0], [0.0, 1.0, 0.0]], atol=1e-6)
    mean = ContentChannel(codes, 1.0, 2, 1.0, "mean").match(history, np.array([3, 1]), items)
    np.testing.assert_allclose(mean, [[0.3, 0.9, -0.3], [0.0, 1.0, 0.0]], atol=1e-6)
    with pytest.raises(ValueError, match="aggregate"):
        ContentChannel(codes, 1.0, 2, 1.0, "median")  # type: ignore[arg-type]


def test_serving_reproduces_offline_scores_with_a_closest_item_match(
    model: Recommender, synthetic_split: Split, catalogue: Catalogue, tmp_path: Path
) -> None:
    split = synthetic_split
    boost = NewItemBoost.fit(item_matrix(model, catalogue), catalogue.item_ids, split.train_items, -0.4)
    channel = _channel(split, catalogue)
    boost = boost.with_content(ContentChannel(channel.codes, 2.0, 3, 0.5, "max"))
    save_artifact(tmp_path / "art", model, catalogue, ["default"], boost)
    serving = ServingModel.load(tmp_path / "art")
    assert serving.boost is not None and serving.boost.exact and serving.boost.content is not None
    assert serving.boost.content.aggregate == "max"
    items, history, users = _served(serving, catalogue, split)
    lengths = eval_batch(split.test, np.arange(len(split.test))).lengths.numpy()
    new = ~split.train_items
    served = users @ items.T
    served[:, new] += serving.boost.served_terms(
        users, history, lengths, items[new][:, serving.boost.code_columns(items.shape[1])]
    )
    offline = score_cases(model, catalogue, split.test, boost=boost)
    np.testing.assert_allclose(served, offline, rtol=1e-4, atol=1e-4)
    # the term is the closest of the last 3 history codes, scaled by sigma(u) * weight / scale
    plain, model_users = score_and_users(model, catalogue, split.test)
    codes = boost.codes(catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image)
    closest = np.array(
        [(codes[h.items[-3:]] @ codes.T).max(0) for h in split.test.histories], dtype=np.float32
    )  # fmt: skip
    lift = boost.spread(model_users)[:, None] * (-0.4 + 2.0 / 0.5 * closest)
    np.testing.assert_allclose((offline - plain)[:, new], lift[:, new], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose((offline - plain)[:, ~new], 0.0, atol=1e-5)
