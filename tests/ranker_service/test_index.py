"""Item index: exact top-k matches brute force; ANN + re-scoring recalls it; add/replace/remove in place."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ranker.index import IndexConfig, ItemIndex, SearchQuery
from ranker.index.ann import reduce_items, reduce_queries


def brute_top(users: np.ndarray, vectors: np.ndarray, ids: list[str], k: int) -> list[list[str]]:
    scores = users @ vectors.T
    return [[ids[j] for j in np.argsort(-row, kind="stable")[:k]] for row in scores]


@pytest.fixture
def catalogue() -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    users = rng.standard_normal((8, 32)).astype(np.float32)
    return [f"i{j}" for j in range(3000)], vectors, users


def test_exact_top_k_matches_brute_force(catalogue) -> None:
    ids, vectors, users = catalogue
    index = ItemIndex.build(ids, vectors)
    assert not index.uses_ann
    results = index.search(users, [SearchQuery(user=b, k=10) for b in range(len(users))])
    assert [r.item_ids for r in results] == brute_top(users, vectors, ids, 10)
    expected = np.sort(users @ vectors.T, axis=1)[:, ::-1][:, :10]
    np.testing.assert_allclose(np.stack([r.scores for r in results]), expected, rtol=1e-5)


def test_exclusions_candidates_and_unknown_candidates(catalogue) -> None:
    ids, vectors, users = catalogue
    index = ItemIndex.build(ids, vectors)
    top = index.search(users[:1], [SearchQuery(user=0, k=5)])[0].item_ids
    excluded = index.search(users[:1], [SearchQuery(user=0, k=5, exclude_ids=frozenset(top[:2]))])[0]
    assert excluded.item_ids[:3] == top[2:]
    assert not set(top[:2]) & set(excluded.item_ids)
    restricted = index.search(users[:1], [SearchQuery(user=0, k=3, candidate_ids=["i5", "i7", "nope", "i9"])])[0]
    assert sorted(restricted.item_ids) == ["i5", "i7", "i9"]
    assert restricted.unknown_candidate_ids == ["nope"]
    assert list(restricted.scores) == sorted(restricted.scores, reverse=True)


def test_upsert_replace_and_remove_without_rebuild(catalogue) -> None:
    ids, vectors, users = catalogue
    index = ItemIndex.build(ids, vectors)
    best = users[0] / np.linalg.norm(users[0]) * 100
    index.upsert(["new"], best[None, :])
    assert index.search(users[:1], [SearchQuery(user=0, k=1)])[0].item_ids == ["new"]
    index.upsert(["new"], -best[None, :])  # replace in place
    assert "new" not in index.search(users[:1], [SearchQuery(user=0, k=50)])[0].item_ids
    assert len(index) == 3001
    top = index.search(users[:1], [SearchQuery(user=0, k=1)])[0].item_ids[0]
    assert index.remove([top, "missing"]) == [top]
    assert top not in index.search(users[:1], [SearchQuery(user=0, k=50)])[0].item_ids
    assert len(index) == 3000


def test_compaction_keeps_results(catalogue) -> None:
    ids, vectors, users = catalogue
    index = ItemIndex.build(ids, vectors, IndexConfig(compact_ratio=0.5))
    index.remove(ids[:2000])
    assert len(index) == 1000
    result = index.search(users, [SearchQuery(user=b, k=10) for b in range(len(users))])
    assert [r.item_ids for r in result] == brute_top(users, vectors[2000:], ids[2000:], 10)


def test_ann_shortlist_with_exact_rescoring_recalls_exact() -> None:
    rng = np.random.default_rng(1)  # clustered, like real item embeddings
    centers = rng.standard_normal((40, 32)).astype(np.float32)
    vectors = (centers[rng.integers(0, 40, 3000)] + 0.3 * rng.standard_normal((3000, 32))).astype(np.float32)
    users = (centers[rng.integers(0, 40, 8)] + 0.3 * rng.standard_normal((8, 32))).astype(np.float32)
    ids = [f"i{j}" for j in range(3000)]
    config = IndexConfig(exact_max_items=1000, ann_nprobe=8, ann_shortlist=200)
    index = ItemIndex.build(ids, vectors, config)
    assert index.uses_ann
    results = index.search(users, [SearchQuery(user=b, k=10) for b in range(len(users))])
    exact = brute_top(users, vectors, ids, 10)
    recall = np.mean([len(set(r.item_ids) & set(e)) / 10 for r, e in zip(results, exact, strict=True)])
    assert recall >= 0.8
    for b, r in enumerate(results):  # re-scored exactly: the true inner products, best first
        true = np.array([vectors[int(i[1:])] @ users[b] for i in r.item_ids])
        np.testing.assert_allclose(r.scores, true, rtol=1e-5)
        assert list(r.scores) == sorted(r.scores, reverse=True)
    index.upsert(["new"], (users[3] * 100)[None, :])
    assert index.search(users, [SearchQuery(user=3, k=1)])[0].item_ids == ["new"]
    index.remove(["new"])
    assert "new" not in index.search(users, [SearchQuery(user=3, k=20)])[0].item_ids


PREFILTERS = ["bfloat16", "int8"]


@pytest.mark.parametrize("kind", PREFILTERS)
def test_prefilter_returns_the_exact_top_k_with_float32_scores(catalogue, kind: str) -> None:
    ids, vectors, users = catalogue
    config = IndexConfig(exact_prefilter=kind, exact_prefilter_shortlist=64)
    exact, fast = ItemIndex.build(ids, vectors), ItemIndex.build(ids, vectors, config)
    queries = [SearchQuery(user=b, k=10, exclude_ids=frozenset(ids[b : b + 3])) for b in range(len(users))]
    for index in (exact, fast):  # changes after the build reach the compact copy too
        index.upsert(["i5", "new"], np.stack([vectors[7] * 3, users[0] * 2]))
        index.remove(["i11", "i12"])
    want, got = exact.search(users, queries), fast.search(users, queries)
    assert [r.item_ids for r in got] == [r.item_ids for r in want]
    assert "new" in got[0].item_ids and not {"i11", "i12"} & {i for r in got for i in r.item_ids}
    np.testing.assert_allclose(np.stack([r.scores for r in got]), np.stack([r.scores for r in want]), atol=1e-5)


@pytest.mark.parametrize("kind", PREFILTERS)
def test_prefilter_never_returns_deleted_or_excluded_rows_when_few_remain(catalogue, kind: str) -> None:
    ids, vectors, users = catalogue
    index = ItemIndex.build(ids[:200], vectors[:200], IndexConfig(exact_prefilter=kind, exact_prefilter_shortlist=64))
    index.remove(ids[:150])  # 50 live rows, fewer than the 64-row shortlist
    result = index.search(users[:1], [SearchQuery(user=0, k=60, exclude_ids=frozenset(ids[150:160]))])[0]
    assert sorted(result.item_ids) == sorted(ids[160:200])
    assert np.isfinite(result.scores).all()


@pytest.mark.parametrize("kind", PREFILTERS)
def test_prefilter_on_a_catalogue_smaller_than_its_shortlist_is_exact(catalogue, kind: str) -> None:
    ids, vectors, users = catalogue
    index = ItemIndex.build(ids[:5], vectors[:5], IndexConfig(exact_prefilter=kind))
    results = index.search(users, [SearchQuery(user=b, k=3) for b in range(len(users))])
    assert [r.item_ids for r in results] == brute_top(users, vectors[:5], ids[:5], 3)


def test_int8_search_after_search_of_another_batch_size_is_exact(catalogue) -> None:
    ids, vectors, users = catalogue  # the int8 pass reuses its score buffers between searches
    index = ItemIndex.build(ids, vectors, IndexConfig(exact_prefilter="int8"))
    for batch in (8, 3, 8, 1):
        results = index.search(users[:batch], [SearchQuery(user=b, k=10) for b in range(batch)])
        assert [r.item_ids for r in results] == brute_top(users[:batch], vectors, ids, 10)


def test_int8_scores_are_within_the_quantisation_bound() -> None:
    from ranker.index.prefilter import Int8Prefilter

    rng = np.random.default_rng(3)
    vectors = (rng.standard_normal((500, 37)) * rng.uniform(0.01, 10, (500, 1))).astype(np.float32)
    vectors[4] = 0.0  # an all-zero row scores 0
    users = torch.from_numpy(rng.standard_normal((5, 37)).astype(np.float32))
    prefilter = Int8Prefilter(37)
    prefilter.write(np.arange(500), vectors)
    approx = prefilter.scores(users, 500).numpy()
    exact = users.numpy() @ vectors.T
    # |u.v - u'.v'| <= |u|_1 * max|v| / 254 + |v|_1 * max|u| / 254 (+ the product of both errors)
    u, v = users.numpy(), vectors
    bound = np.abs(u).sum(1, keepdims=True) * np.abs(v).max(1) + np.abs(v).sum(1) * np.abs(u).max(1, keepdims=True)
    bound = bound / 254 * 1.01 + 1e-5
    assert np.all(np.abs(approx - exact) <= bound)
    assert np.all(approx[:, 4] == 0)
    assert np.corrcoef(approx.ravel(), exact.ravel())[0, 1] > 0.9999


def test_cpu_flags_are_read_from_cpuinfo(tmp_path) -> None:
    from ranker.index.prefilter import cpu_has_int8_dot, cpu_has_native_bf16

    zen4, avx2, sapphire = tmp_path / "zen4", tmp_path / "avx2", tmp_path / "spr"
    zen4.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n")
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    sapphire.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx_vnni amx_bf16 amx_int8\n")
    assert cpu_has_native_bf16(zen4) and cpu_has_int8_dot(zen4)
    assert not cpu_has_native_bf16(avx2) and not cpu_has_int8_dot(avx2)
    assert cpu_has_native_bf16(sapphire) and cpu_has_int8_dot(sapphire)
    assert not cpu_has_native_bf16(tmp_path / "missing") and not cpu_has_int8_dot(tmp_path / "missing")


def test_prefilter_modes_pick_their_first_pass() -> None:
    from ranker.index.prefilter import Bf16Prefilter, Int8Prefilter, cpu_has_int8_dot, make_prefilter

    assert isinstance(make_prefilter("int8", 8), Int8Prefilter)
    assert isinstance(make_prefilter("bfloat16", 8), Bf16Prefilter)
    assert make_prefilter("off", 8) is None
    assert isinstance(make_prefilter("auto", 8), Int8Prefilter) == cpu_has_int8_dot()
    assert IndexConfig().exact_prefilter == "auto"


@pytest.mark.parametrize("kind", PREFILTERS)
def test_an_index_that_switches_to_ann_drops_the_compact_copy(catalogue, kind: str) -> None:
    ids, vectors, users = catalogue
    config = IndexConfig(exact_max_items=2000, exact_prefilter=kind, ann_nprobe=64)
    index = ItemIndex.build(ids[:1500], vectors[:1500], config)
    assert index._prefilter is not None and not index.uses_ann
    index.upsert(ids[1500:], vectors[1500:])  # now above exact_max_items: the IVF index takes over
    assert index.uses_ann and index._prefilter is None
    assert len(index.search(users[:1], [SearchQuery(user=0, k=10)])[0].item_ids) == 10


def clustered_unnormalised(n: int, users: int, dim: int = 32, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Items around 1000 centres whose norms vary (popular items are longer), users near centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, dim)) * rng.lognormal(0.0, 0.4, (1000, 1))
    vectors = (centres[rng.integers(0, 1000, n)] + 0.5 * rng.standard_normal((n, dim))) * rng.lognormal(0, 0.1, (n, 1))
    queries = centres[rng.integers(0, 1000, users)] + 0.5 * rng.standard_normal((users, dim))
    return vectors.astype(np.float32), queries.astype(np.float32)


def recall_at_10(index: ItemIndex, users: np.ndarray, vectors: np.ndarray, ids: list[str]) -> float:
    results = index.search(users, [SearchQuery(user=b, k=10) for b in range(len(users))])
    exact = brute_top(users, vectors, ids, 10)
    return float(np.mean([len(set(r.item_ids) & set(e)) / 10 for r, e in zip(results, exact, strict=True)]))


def aligned(user: np.ndarray, norm: float) -> np.ndarray:
    return (user / np.linalg.norm(user) * norm)[None, :]


def test_mips_to_l2_reduction_ranks_by_inner_product() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 16)).astype(np.float32) * rng.lognormal(0, 0.5, (500, 1)).astype(np.float32)
    query = rng.standard_normal((1, 16)).astype(np.float32)
    bound = float(np.linalg.norm(vectors, axis=1).max())
    items, q = reduce_items(vectors, bound), reduce_queries(query)
    np.testing.assert_allclose(np.linalg.norm(items, axis=1), bound, rtol=1e-5)  # all on one sphere
    distances = ((items - q) ** 2).sum(axis=1)
    assert list(np.argsort(distances)[:20]) == list(np.argsort(-(vectors @ query[0]))[:20])


def test_default_ann_recalls_the_exact_top_10_of_unnormalised_vectors() -> None:
    vectors, users = clustered_unnormalised(20_000, 32)
    ids = [f"i{j}" for j in range(len(vectors))]
    index = ItemIndex.build(ids, vectors, IndexConfig(exact_max_items=1000))  # the default ANN settings otherwise
    assert index.uses_ann
    assert recall_at_10(index, users, vectors, ids) >= 0.95


def test_ann_finds_items_upserted_above_the_norm_bound_and_retrains_when_too_many() -> None:
    vectors, users = clustered_unnormalised(5000, 5)
    ids = [f"i{j}" for j in range(len(vectors))]
    index = ItemIndex.build(ids, vectors, IndexConfig(exact_max_items=1000, ann_overflow_max=4))
    bound = index._ann.bound
    assert index._ann.overflow_rows <= 1  # at most ann_overflow_max / 4 outliers left out of the bound
    index.upsert(["long"], aligned(users[0], 2 * bound))  # longer than any item the ANN was trained on
    assert index.search(users, [SearchQuery(user=0, k=1)])[0].item_ids == ["long"]
    index.upsert(["long"], aligned(users[0], bound / 10))  # replaced by a vector inside the bound: into the IVF
    assert "long" in index and "long" not in index.search(users, [SearchQuery(user=0, k=10)])[0].item_ids
    index.upsert(["long"], aligned(users[0], 2 * bound))
    overflow = index._ann.overflow_rows
    assert index.remove(["long"]) == ["long"]  # deleted: gone from the results and from the overflow set
    assert index._ann.overflow_rows == overflow - 1
    assert "long" not in index.search(users, [SearchQuery(user=0, k=50)])[0].item_ids
    longer = [f"u{b}" for b in range(5)]
    index.upsert(longer, np.concatenate([aligned(u, 3 * bound) for u in users]))  # > 4 above: retrained
    assert index._ann.bound > bound and index._ann.overflow_rows <= 1
    assert [index.search(users, [SearchQuery(user=b, k=1)])[0].item_ids for b in range(5)] == [[u] for u in longer]


def test_a_few_outliers_do_not_stretch_the_norm_bound() -> None:
    vectors, users = clustered_unnormalised(20_000, 32)
    vectors[:2] = np.concatenate([aligned(users[0], 1000), aligned(users[1], 1000)])
    ids = [f"i{j}" for j in range(len(vectors))]
    index = ItemIndex.build(ids, vectors, IndexConfig(exact_max_items=1000))
    assert index._ann.bound < 2 * np.linalg.norm(vectors[2:], axis=1).max()
    assert [r.item_ids for r in index.search(users, [SearchQuery(user=b, k=1) for b in range(2)])] == [["i0"], ["i1"]]
    assert recall_at_10(index, users, vectors, ids) >= 0.95


def test_excluded_rows_are_masked_in_contiguous_and_strided_score_matrices() -> None:
    from ranker.index.exact import mask_scores

    excluded = [[0, 3], [], [1, 2, 4]]
    for scores in (torch.zeros(3, 5), torch.zeros(5, 3).T):  # the second is a transposed (strided) view
        mask_scores(scores, None, excluded)
        expected = torch.zeros(3, 5)
        for b, rows in enumerate(excluded):
            expected[b, rows] = -torch.inf
        assert torch.equal(scores, expected)
