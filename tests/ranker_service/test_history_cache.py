"""The history-state cache: same user vectors as a full forward pass, reused only for the identical history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recmodel.model.history_cache import HistoryStateCache, history_key
from recmodel.model.serving import ServingModel

T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def models(artifact: Path) -> tuple[ServingModel, ServingModel]:
    """(without cache, with a cache of 8 histories) over the same artifact."""
    return ServingModel.load(artifact), ServingModel.load(artifact, history_cache_size=8)


def _batch(model: ServingModel, lengths: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = model.catalogue()
    items = model.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=list(c.item_ids))
    rng = np.random.default_rng(seed)
    width = max(lengths)
    rows = rng.integers(0, len(c.item_ids), (len(lengths), width))
    times = (T0 + np.cumsum(rng.integers(1_000, 10**8, (len(lengths), width)), axis=1)).astype(np.int64)
    lens = np.array(lengths, dtype=np.int64)
    valid = np.arange(width)[None, :] < lens[:, None]
    return np.where(valid[..., None], items[rows], 0.0).astype(np.float32), times, lens


def test_cached_vectors_equal_a_full_forward_pass_for_any_request_time(models) -> None:
    plain, cached = models
    vectors, times, lens = _batch(plain, [1, 5, plain.max_len])
    last = times[np.arange(3), lens - 1]
    cached.take_history_cache_counts()
    for gap_ms in (1_000, 3_600_000, 30 * 86_400_000):  # different gap buckets: the request terms change
        expected = plain.user_vectors_from_item_vectors(vectors, times, lens, last + gap_ms)
        got = cached.user_vectors_from_item_vectors(vectors, times, lens, last + gap_ms)
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    assert cached.take_history_cache_counts() == (6, 3)  # computed once per history, then reused
    near = plain.user_vectors_from_item_vectors(vectors, times, lens, last + 1_000)
    far = plain.user_vectors_from_item_vectors(vectors, times, lens, last + 30 * 86_400_000)
    assert np.abs(near - far).max() > 1e-4  # the request time really matters, so reuse must add it afresh


def test_a_changed_history_is_never_served_from_the_cache(models) -> None:
    plain, cached = models
    vectors, times, lens = _batch(plain, [6, 6], seed=1)
    request = times[:, -1] + 60_000
    cached.user_vectors_from_item_vectors(vectors, times, lens, request)
    cached.take_history_cache_counts()
    changed = vectors.copy()
    changed[0, 2] += 0.5  # e.g. a history item re-upserted with new content
    later = times.copy()
    later[1, 5] += 1  # one event's time differs
    for v, t in ((changed, times), (vectors, later)):
        expected = plain.user_vectors_from_item_vectors(v, t, lens, request)
        np.testing.assert_allclose(cached.user_vectors_from_item_vectors(v, t, lens, request), expected, atol=1e-6)
    hits, misses = cached.take_history_cache_counts()
    assert misses == 2 and hits == 2


def test_padding_beyond_the_length_does_not_change_the_key() -> None:
    vectors = np.ones((3, 4), np.float32)
    times = np.arange(3, dtype=np.int64)
    empty = np.zeros(0, np.int64)
    assert history_key(vectors, times, empty) == history_key(vectors.copy(), times.copy(), empty)
    assert history_key(vectors, times, empty) != history_key(vectors[:2], times[:2], empty)


def test_lru_evicts_the_least_recently_used_and_zero_capacity_stores_nothing() -> None:
    cache = HistoryStateCache(2)
    for key in (b"a", b"b"):
        cache.put(key, np.zeros(1, np.float32))
    assert cache.get(b"a") is not None  # "a" is now the most recent
    cache.put(b"c", np.zeros(1, np.float32))
    assert cache.get(b"b") is None and cache.get(b"a") is not None and len(cache) == 2
    assert cache.take_counts() == (2, 1) and cache.take_counts() == (0, 0)
    off = HistoryStateCache(0)
    off.put(b"a", np.zeros(1, np.float32))
    assert len(off) == 0
    with pytest.raises(ValueError, match="history_cache_size"):
        HistoryStateCache(-1)
