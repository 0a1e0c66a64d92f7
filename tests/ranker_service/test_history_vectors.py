"""History from cached item vectors (the index) scores exactly like projecting raw encoder features per request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ranker.index import IndexConfig, ItemIndex
from ranker.service.history import assemble, usable_history
from ranker.service.model import load_model, user_vectors
from recmodel.model.serving import ServingModel
from user_state.events import Event

T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def model(artifact: Path) -> ServingModel:
    return ServingModel.load(artifact)


def _histories(n_items: int, lengths: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows (B, L), times (B, L), lengths (B,)) right-padded; rows index the catalogue."""
    rng = np.random.default_rng(seed)
    width = max(lengths)
    rows = rng.integers(0, n_items, (len(lengths), width))
    gaps = rng.integers(1_000, 10**8, (len(lengths), width))
    times = T0 + np.cumsum(gaps, axis=1)
    return rows, times.astype(np.int64), np.array(lengths, dtype=np.int64)


def test_item_vector_path_matches_the_raw_feature_path_within_1e_5(model: ServingModel) -> None:
    c = model.catalogue()
    items = model.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=list(c.item_ids))
    lengths = [1, 7, model.max_len, model.max_len + 13]  # the last keeps only its newest max_len events
    rows, times, lens = _histories(len(c.item_ids), lengths)
    request = times[np.arange(len(lens)), lens - 1] + 3_600_000
    valid = np.arange(rows.shape[1])[None, :] < lens[:, None]
    ids = [[c.item_ids[r] for r in row] for row in rows]
    raw = model.user_vectors(
        c.text[rows], c.image[rows], c.has_text[rows] & valid, c.has_image[rows] & valid, times, lens, request,
        history_item_ids=ids,
    )  # fmt: skip
    cached = model.user_vectors_from_item_vectors(np.where(valid[..., None], items[rows], 0.0), times, lens, request)
    assert cached.shape == raw.shape == (len(lengths), model.dim)
    np.testing.assert_allclose(cached, raw, atol=1e-5, rtol=0)
    np.testing.assert_allclose(cached @ items.T, raw @ items.T, atol=1e-5, rtol=0)


def test_ranker_history_from_the_index_matches_the_offline_raw_path(model: ServingModel, artifact: Path) -> None:
    loaded = load_model(artifact)
    c = model.catalogue()
    ids = list(c.item_ids)
    items = loaded.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=ids)
    index = ItemIndex.build(ids, items, IndexConfig())
    rows, times, lens = _histories(len(ids), [3, model.max_len], seed=1)
    events = [
        [Event(f"e{b}-{j}", f"u{b}", ids[rows[b, j]], int(times[b, j])) for j in range(lens[b])] for b in range(2)
    ]
    histories = [usable_history(e, index.row_of, model.max_len) for e in events]
    request = [int(times[b, lens[b] - 1]) + 60_000 for b in range(2)]
    batch = assemble(histories, request, ["", ""], index.vectors)
    served, bias = user_vectors(loaded, batch)
    # the repeat bias comes with the user vectors, from the same sequence inputs: equal to the separate call's
    alone = loaded.history_bias(batch.times_ms, batch.lengths, batch.request_ms)
    assert bias is not None and alone is not None  # the test artifact has a repeat bias
    np.testing.assert_array_equal(bias, alone)
    for b in range(2):
        n = int(lens[b])
        r = rows[b : b + 1, :n]
        offline = model.user_vectors(
            c.text[r], c.image[r], c.has_text[r], c.has_image[r], times[b : b + 1, :n], [n], [request[b]],
            history_item_ids=[[ids[j] for j in r[0]]],
        )  # fmt: skip
        np.testing.assert_allclose(served[b], offline[0], atol=1e-5, rtol=0)


def test_bad_item_vectors_name_the_field(model: ServingModel) -> None:
    times = np.full((1, 2), T0, dtype=np.int64)
    args = {"timestamps_ms": times, "lengths": np.array([2]), "request_time_ms": np.array([T0])}
    with pytest.raises(ValueError, match="history_vectors: expected shape"):
        model.user_vectors_from_item_vectors(np.zeros((1, 2, model.dim + 1), np.float32), **args)
    bad = np.zeros((1, 2, model.dim), np.float32)
    bad[0, 1, 0] = np.nan
    with pytest.raises(ValueError, match="history_vectors: NaN"):
        model.user_vectors_from_item_vectors(bad, **args)
