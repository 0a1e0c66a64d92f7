"""Exact scoring: the block-maxima top-k equals torch.topk; the column-wise copy scores like the table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ranker.index import IndexConfig, ItemIndex, SearchQuery
from ranker.index.exact import ColumnScorer, block_top_k


@pytest.mark.parametrize(("n", "k", "block"), [(10_000, 10, 128), (1_000, 64, 128), (1_003, 5, 16), (50, 10, 128)])
def test_block_top_k_returns_exactly_the_top_k(n: int, k: int, block: int) -> None:
    g = torch.Generator().manual_seed(n)
    scores = torch.randn(7, n, generator=g)
    scores[0, : n // 2] = -torch.inf  # excluded rows
    scores[1, -3:] = 100.0  # winners in the last (partial) block
    values, columns = block_top_k(scores, k, block)
    expected = torch.topk(scores, k, dim=1).values
    assert torch.equal(values.sort(dim=1, descending=True).values, expected)
    assert torch.equal(scores.gather(1, columns), values)  # the columns hold those values
    assert all(len(set(row.tolist())) == k for row in columns)  # no column twice


def test_block_top_k_with_fewer_finite_scores_than_k() -> None:
    scores = torch.full((1, 1000), -torch.inf)
    scores[0, [3, 500, 999]] = torch.tensor([1.0, 3.0, 2.0])
    values, columns = block_top_k(scores, 10, 64)
    finite = torch.isfinite(values[0])
    assert finite.sum() == 3
    assert sorted(columns[0][finite].tolist()) == [3, 500, 999]


def test_column_scorer_grows_and_matches_the_row_major_product() -> None:
    rng = np.random.default_rng(0)
    scorer = ColumnScorer(8)
    vectors = rng.standard_normal((3000, 8), dtype=np.float32)
    scorer.write(np.arange(1000), vectors[:1000])
    scorer.write(np.arange(1000, 3000), vectors[1000:])  # grows past its first capacity
    vectors[5] = rng.standard_normal(8, dtype=np.float32)
    scorer.write(np.array([5]), vectors[5:6])  # in-place replacement
    users = torch.from_numpy(rng.standard_normal((4, 8), dtype=np.float32))
    values, rows = scorer.top_k(users, 3000, None, [[], [int(np.argmax(vectors @ users[1].numpy()))], [], []], 5)
    exact = users.numpy() @ vectors.T
    exact[1, int(np.argmax(vectors @ users[1].numpy()))] = -np.inf
    for b in range(4):
        assert set(rows[b].tolist()) == set(np.argsort(-exact[b])[:5].tolist())
        np.testing.assert_allclose(values[b].numpy(), exact[b, rows[b].numpy()], rtol=1e-5, atol=1e-5)


def test_index_exact_search_is_sorted_and_agrees_with_brute_force() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((5000, 16), dtype=np.float32)
    ids = [f"i{j}" for j in range(5000)]
    index = ItemIndex.build(ids, vectors, IndexConfig())
    index.remove(["i7", "i8"])
    users = rng.standard_normal((3, 16), dtype=np.float32)
    results = index.search(users, [SearchQuery(user=b, k=20, exclude_ids=frozenset({"i9"})) for b in range(3)])
    scores = users @ vectors.T
    scores[:, [7, 8, 9]] = -np.inf
    for b, result in enumerate(results):
        assert result.item_ids == [ids[j] for j in np.argsort(-scores[b], kind="stable")[:20]]
        assert np.all(np.diff(result.scores) <= 0)
