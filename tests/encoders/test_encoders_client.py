"""The client with the in-process backend: same numbers as ONNX Runtime, cache, per-item errors, deadline."""

import time

import numpy as np
import pytest

from encoders.client import (
    EncoderClientSettings,
    EncoderDeadlineExceededError,
    create_encoder_client,
)
from encoders.client.cache import EmbeddingCache, content_key
from encoders.client.circuit_breaker import BreakerState, CircuitBreaker
from encoders.errors import CircuitOpenError
from encoders.tokenization import EMPTY_TEXT_ERROR


@pytest.fixture
async def client(onnx_artifacts):
    client = create_encoder_client(EncoderClientSettings(triton_url=None, max_batch_size=4))
    yield client
    await client.close()


async def test_in_process_embeddings_equal_onnx_runtime(client, inprocess, synthetic_images):
    texts = [f"movie number {i}" for i in range(10)]
    got = await client.embed_texts(texts)
    assert got.vectors.dtype == np.float32 and got.vectors.shape == (10, 384) and got.errors == [None] * 10
    assert np.abs(got.vectors - inprocess.embed_texts(texts).vectors).max() < 1e-5
    images = await client.embed_images(synthetic_images)
    assert np.abs(images.vectors - inprocess.embed_images(synthetic_images).vectors).max() < 1e-5


async def test_bad_items_get_errors_and_zero_rows(client, synthetic_images):
    texts = await client.embed_texts(["fine", "  ", None])  # type: ignore[list-item]
    assert texts.errors[0] is None and texts.errors[1] == EMPTY_TEXT_ERROR
    assert "expected a string" in texts.errors[2]
    np.testing.assert_array_equal(texts.vectors[1:], 0)
    images = await client.embed_images([b"", synthetic_images[0], synthetic_images[1][:64]])
    assert images.errors[0] == "image: empty payload" and images.errors[1] is None and images.errors[2]
    assert images.ok.tolist() == [False, True, False]
    np.testing.assert_array_equal(images.vectors[[0, 2]], 0)


async def test_identical_content_is_embedded_once_then_served_from_cache(client):
    first = await client.embed_texts(["Heat", "Heat", "Casino"])
    assert client.cache.misses == 2 and len(client.cache) == 2
    np.testing.assert_array_equal(first.vectors[0], first.vectors[1])
    started = time.perf_counter()
    again = await client.embed_texts(["Casino", "Heat"])
    assert time.perf_counter() - started < 0.05
    assert client.cache.hits == 2
    np.testing.assert_array_equal(again.vectors, first.vectors[[2, 0]])


async def test_a_single_string_is_not_mistaken_for_a_list(client):
    with pytest.raises(TypeError, match="texts: expected a sequence"):
        await client.embed_texts("Heat")  # type: ignore[arg-type]
    empty = await client.embed_images([])
    assert empty.vectors.shape == (0, 1280) and empty.errors == []


async def test_deadline_raises_typed_error(client):
    texts = [f"a long synopsis number {i} " * 40 for i in range(64)]
    with pytest.raises(EncoderDeadlineExceededError):
        await client.embed_texts(texts, timeout_s=0.001)


def test_lru_cache_evicts_least_recently_used():
    cache = EmbeddingCache(max_items=2)
    keys = [content_key("text", t) for t in ("a", "b", "c")]
    cache.put(keys[0], np.ones(3))
    cache.put(keys[1], np.ones(3))
    assert cache.get(keys[0]) is not None  # a is now the most recent
    cache.put(keys[2], np.ones(3))
    assert cache.get(keys[1]) is None and cache.get(keys[0]) is not None and len(cache) == 2
    assert content_key("text", "a") != content_key("image", b"a")


def test_circuit_breaker_opens_half_opens_and_closes():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_s=5.0, clock=lambda: now[0])
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError, match=r"retry in 5\.0s"):
        breaker.before_call()
    now[0] = 5.0
    breaker.before_call()  # the single half-open probe
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # a second caller while the probe is in flight
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN  # failed probe: open again for reset_s
    now[0] = 10.0
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
