"""Which new items a closest-item content match merges: each user's k best allowed ones by their exact score."""

from __future__ import annotations

import numpy as np
import pytest

from ranker.index import SearchQuery, SearchResult
from ranker.service.history import HistoryBatch
from ranker.service.new_items import NewItemContenders, NewItems
from recmodel.model.content_channel import ContentChannel, ContentCodes
from recmodel.model.new_item_boost import NewItemBoost

D, R, N = 4, 2, 60  # model columns, code size, new items


def _setup(seed: int = 0) -> tuple[NewItemBoost, np.ndarray, HistoryBatch, np.ndarray, NewItems]:
    rng = np.random.default_rng(seed)
    codes = ContentCodes(np.zeros(3), np.zeros(3), np.zeros(6), np.eye(R, 6, dtype=np.float32))
    boost = NewItemBoost(-0.5, np.eye(D), frozenset({"old"}), ContentChannel(codes, 2.0, 2, 0.5, "max"))
    assert boost.width == 1 + 2 * R and boost.exact

    def rows(n: int) -> np.ndarray:
        v = rng.normal(size=(n, D + boost.width)).astype(np.float32)
        q = rng.normal(size=(n, R)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        v[:, D] = 1.0
        v[:, D + 1 : D + 1 + R], v[:, D + 1 + R :] = q, q
        return v

    vectors = rows(N + 5)
    history = vectors[N:][None].repeat(2, 0)  # both users' histories: the last 5 rows
    users = rng.normal(size=(2, D + boost.width)).astype(np.float32)
    users[:, D + 1 :] = 0.0
    batch = HistoryBatch(
        history, np.zeros((2, 5), np.int64), np.array([5, 3]), np.zeros(2, np.int64), [[], []], ["", ""]
    )
    ids = [f"n{j}" for j in range(N)]
    codes = np.ascontiguousarray(vectors[:N, D + 1 : D + 1 + R])
    new = NewItems(
        ids, np.arange(N, dtype=np.int64), vectors[:N].copy(), codes, frozenset(ids), {i: j for j, i in enumerate(ids)}
    )
    return boost, users, batch, vectors, new


def _exact(boost: NewItemBoost, users: np.ndarray, batch: HistoryBatch, vectors: np.ndarray) -> np.ndarray:
    """Brute force: the dot product plus sigma(u) * w / s * the closest of the last 2 history codes."""
    model = users[:, :D]
    sigma = np.sqrt(np.einsum("bi,ij,bj->b", model, boost.covariance, model))
    out = users @ vectors[:N].T
    for b in range(2):
        recent = batch.item_vectors[b, batch.lengths[b] - 2 : batch.lengths[b], D + 1 : D + 1 + R]
        out[b] += sigma[b] * 2.0 / 0.5 * (recent @ vectors[:N, D + 1 : D + 1 + R].T).max(0)
    return out


def test_each_user_gets_its_k_best_allowed_new_items_with_their_exact_terms() -> None:
    boost, users, batch, vectors, new = _setup()
    contenders = NewItemContenders(boost, users, batch, new)
    exact = _exact(boost, users, batch, vectors)
    np.testing.assert_allclose(contenders.scores, exact, rtol=1e-5, atol=1e-5)
    for b in range(2):
        best = [f"n{j}" for j in np.argsort(-exact[b])]
        apart = contenders.scored_apart(b, SearchQuery(user=b, k=5), lambda _: True, {})
        assert list(apart) == best[:5]
        for row, term in apart.values():
            assert float(users[b] @ vectors[row]) + term == pytest.approx(exact[b, row], rel=1e-5, abs=1e-5)
        # exclusions, candidate lists and a filter that keeps few items (the walk goes past the first 4k + 16)
        skip = frozenset(best[:2])
        assert list(contenders.scored_apart(b, SearchQuery(b, 3, exclude_ids=skip), lambda _: True, {})) == best[2:5]
        wanted = [best[40], best[7], "elsewhere"]
        got = contenders.scored_apart(b, SearchQuery(b, 3, candidate_ids=wanted), lambda _: True, {})
        assert list(got) == [best[7], best[40]]
        tail = set(best[-3:])
        assert set(contenders.scored_apart(b, SearchQuery(b, 5), tail.__contains__, {})) == tail


def test_a_new_item_in_the_history_keeps_its_repeat_bias_and_gains_its_term() -> None:
    boost, users, batch, _, new = _setup(1)
    contenders = NewItemContenders(boost, users, batch, new)
    history = {"n3": (3, -7.0), "old": (99, -1.0)}
    apart = contenders.scored_apart(0, SearchQuery(0, 2), lambda _: True, history)
    assert apart["old"] == (99, -1.0)
    assert apart["n3"][0] == 3
    assert apart["n3"][1] == pytest.approx(-7.0 + float(contenders.terms[0, 3]), rel=1e-6)
    assert len(apart) == 4  # the two history items and the two best other new items


def test_the_search_results_lose_their_new_items() -> None:
    boost, users, batch, _, new = _setup()
    contenders = NewItemContenders(boost, users, batch, new)
    result = SearchResult(["a", "n1", "b", "n7"], np.array([4.0, 3.0, 2.0, 1.0], dtype=np.float32))
    kept = contenders.drop_from(result)
    assert kept.item_ids == ["a", "b"] and kept.scores.tolist() == [4.0, 2.0]
