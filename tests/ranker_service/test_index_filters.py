"""Filters inside the index search: exact answers equal brute force over the eligible items, k items come back
whenever k eligible items exist (100k items, a filter keeping 1%), on every scoring path."""

from __future__ import annotations

import numpy as np
import pytest

from ranker.index import IndexConfig, ItemFilterSpec, ItemIndex, SearchQuery
from ranker.index.facets import FacetColumns

N = 100_000
DIM = 32


def regions(n: int) -> list[dict[str, str]]:
    """Item j: region 'rare' for 1% of items (j % 100 == 7), else 'eu'/'us'; in_stock false for every third."""
    return [
        {"region": "rare" if j % 100 == 7 else ("eu" if j % 2 else "us"), "in_stock": "false" if j % 3 == 0 else "true"}
        for j in range(n)
    ]


@pytest.fixture(scope="module")
def big() -> tuple[list[str], np.ndarray, np.ndarray, list[dict[str, str]], np.ndarray]:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    users = rng.standard_normal((4, DIM)).astype(np.float32)
    published = np.arange(N, dtype=np.int64) * 1000
    return [f"i{j}" for j in range(N)], vectors, users, regions(N), published


def brute(users: np.ndarray, vectors: np.ndarray, ids: list[str], eligible: np.ndarray, k: int) -> list[list[str]]:
    rows = np.flatnonzero(eligible)
    scores = users @ vectors[rows].T
    return [[ids[rows[j]] for j in np.argsort(-row, kind="stable")[:k]] for row in scores]


RARE_IN_STOCK = ItemFilterSpec(
    include=(("region", frozenset({"rare"})),), exclude=(("in_stock", frozenset({"false"})),)
)
CONFIGS = {
    "exact float32": IndexConfig(exact_prefilter="off"),
    "exact int8 first pass": IndexConfig(exact_prefilter="int8"),
    "ann, rare filter scored exactly": IndexConfig(exact_max_items=1000),
    "ann, over-fetch": IndexConfig(exact_max_items=1000, filter_exact_max=0, filter_overfetch_max=1_000_000),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_filter_keeping_one_percent_returns_k_eligible_items(big, name: str) -> None:
    ids, vectors, users, attrs, published = big
    index = ItemIndex.build(ids, vectors, CONFIGS[name], attrs, published)
    assert index.uses_ann == name.startswith("ann")
    rare = np.array([a["region"] == "rare" and a["in_stock"] == "true" for a in attrs])
    assert 0.005 < rare.mean() <= 0.01
    k = 50
    results = index.search(users, [SearchQuery(user=b, k=k, filter=RARE_IN_STOCK) for b in range(len(users))])
    for b, result in enumerate(results):
        assert len(result.item_ids) == k
        assert all(attrs[int(i[1:])]["region"] == "rare" for i in result.item_ids)
        assert all(attrs[int(i[1:])]["in_stock"] == "true" for i in result.item_ids)
        expected = brute(users[b : b + 1], vectors, ids, rare, k)[0]
        if name.startswith("ann"):
            assert len(set(result.item_ids) & set(expected)) / k >= 0.9  # ANN: recall, scores exact
        else:
            assert result.item_ids == expected
        np.testing.assert_allclose(result.scores, vectors[[int(i[1:]) for i in result.item_ids]] @ users[b], rtol=1e-5)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_eligible_item_when_fewer_than_k(big, name: str) -> None:
    ids, vectors, users, attrs, published = big
    index = ItemIndex.build(ids, vectors, CONFIGS[name], attrs, published)
    newest = ItemFilterSpec(published_after_ms=int(published[-5]))  # the 5 newest items
    exclude = frozenset({ids[-1]})
    result = index.search(users[:1], [SearchQuery(user=0, k=20, filter=newest, exclude_ids=exclude)])[0]
    assert sorted(result.item_ids) == sorted(ids[-5:-1])


def test_filters_mix_with_unfiltered_queries_and_candidates(big) -> None:
    ids, vectors, users, attrs, _ = big
    index = ItemIndex.build(ids[:3000], vectors[:3000], IndexConfig(exact_prefilter="off"), attrs[:3000])
    eu = ItemFilterSpec(include=(("region", frozenset({"eu"})),))
    plain, filtered, candidates = index.search(
        users[:2],
        [
            SearchQuery(user=0, k=10),
            SearchQuery(user=1, k=10, filter=eu),
            SearchQuery(user=1, k=10, filter=eu, candidate_ids=[*ids[:10], "nope"]),
        ],
    )
    assert plain.item_ids == brute(users[:1], vectors[:3000], ids[:3000], np.ones(3000, bool), 10)[0]
    eligible = np.array([a["region"] == "eu" for a in attrs[:3000]])
    assert filtered.item_ids == brute(users[1:2], vectors[:3000], ids[:3000], eligible, 10)[0]
    assert sorted(candidates.item_ids) == sorted(i for i in ids[:10] if attrs[int(i[1:])]["region"] == "eu")
    assert candidates.unknown_candidate_ids == ["nope"]


def test_upsert_replaces_attributes_and_delete_forgets_them() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((10, 8)).astype(np.float32)
    ids = [f"i{j}" for j in range(10)]
    index = ItemIndex.build(ids, vectors, IndexConfig(exact_prefilter="off"))
    sale = ItemFilterSpec(include=(("sale", frozenset({"yes"})),))
    user = vectors[:1]
    assert index.search(user, [SearchQuery(user=0, k=5, filter=sale)])[0].item_ids == []
    index.upsert(["i3", "new"], vectors[[3, 4]], [{"sale": "yes"}, {"sale": "yes", "colour": "red"}], [5, 6])
    assert sorted(index.search(user, [SearchQuery(user=0, k=5, filter=sale)])[0].item_ids) == ["i3", "new"]
    assert index.attributes_of("new") == {"sale": "yes", "colour": "red"}
    index.upsert(["i3"], vectors[[3]], [{"colour": "red"}], [7])  # replaced whole: 'sale' is gone
    assert index.search(user, [SearchQuery(user=0, k=5, filter=sale)])[0].item_ids == ["new"]
    assert index.attributes_of("i3") == {"colour": "red"}
    index.remove(["new"])
    assert index.search(user, [SearchQuery(user=0, k=5, filter=sale)])[0].item_ids == []
    assert index.allows("i3", ItemFilterSpec(published_after_ms=7))
    assert not index.allows("i3", ItemFilterSpec(published_after_ms=8))
    assert not index.allows("new", None)


def test_compaction_keeps_each_items_facets() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    vectors = rng.standard_normal((n, 8)).astype(np.float32)
    ids = [f"i{j}" for j in range(n)]
    index = ItemIndex.build(ids, vectors, IndexConfig(exact_prefilter="off", compact_ratio=0.5), regions(n))
    index.remove(ids[: n // 2 + 10])  # past the compaction ratio: rows are renumbered
    for j in (n // 2 + 10, n // 2 + 11, n - 1):
        assert index.attributes_of(ids[j]) == regions(n)[j]
    rare = ItemFilterSpec(include=(("region", frozenset({"rare"})),))
    got = index.search(vectors[:1], [SearchQuery(user=0, k=100, filter=rare)])[0].item_ids
    assert sorted(got) == sorted(ids[j] for j in range(n // 2 + 10, n) if j % 100 == 7)


def test_facet_mask_semantics() -> None:
    facets = FacetColumns(capacity=2)
    facets.write(np.array([0, 1, 2, 3]), [{"a": "x"}, {"a": "y"}, {}, {"a": "x", "b": "z"}], [10, 20, 30, 40])
    mask = facets.mask
    assert mask(ItemFilterSpec(include=(("a", frozenset({"x", "y"})),)), 4).tolist() == [True, True, False, True]
    assert mask(ItemFilterSpec(exclude=(("a", frozenset({"x"})),)), 4).tolist() == [False, True, True, False]
    assert mask(ItemFilterSpec(include=(("missing", frozenset({"x"})),)), 4).tolist() == [False] * 4
    assert mask(ItemFilterSpec(include=(("a", frozenset({"unseen"})),)), 4).tolist() == [False] * 4
    assert mask(ItemFilterSpec(published_after_ms=25), 4).tolist() == [False, False, True, True]
    both = ItemFilterSpec(include=(("a", frozenset({"x"})),), exclude=(("b", frozenset({"z"})),))
    assert mask(both, 4).tolist() == [True, False, False, False]
    assert [facets.allows(r, both) for r in range(4)] == mask(both, 4).tolist()
