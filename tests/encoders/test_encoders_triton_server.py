"""Against the real local Triton (bundled tritonserver, python backend): parity, bad input, metrics, client."""

import asyncio
import time
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from encoders.client import (
    CircuitOpenError,
    EncoderClientSettings,
    EncoderDeadlineExceededError,
    EncoderUnavailableError,
    create_encoder_client,
)
from encoders.tokenization import EMPTY_TEXT_ERROR

pytestmark = [pytest.mark.integration, pytest.mark.triton]


def _infer(triton, model: str, input_name: str, payloads: list[bytes]):
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    tensor = grpcclient.InferInput(input_name, [len(payloads), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[p] for p in payloads], dtype=np.object_))
    result = client.infer(model, [tensor])
    return result.as_numpy("embedding"), [e.decode() for e in result.as_numpy("error").reshape(-1)]


def _metric(triton, name: str, model: str) -> float:
    text = urllib.request.urlopen(triton.metrics_url, timeout=5).read().decode()
    prefix = f'{name}{{model="{model}",version="1"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def _requests_since(triton, before: float, expected: float, model: str = "text_embed") -> float:
    """Request count since ``before``; statistics land just after the response, so poll briefly."""
    deadline = time.monotonic() + 3.0
    while True:
        count = _metric(triton, "nv_inference_request_success", model) - before
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_text_ensemble_equals_in_process(triton, inprocess):
    texts = ["Toy Story. Animation, Children's, Comedy", "GoldenEye. Action", "word " * 600, ""]
    vectors, errors = _infer(triton, "text_embed", "text", [t.encode() for t in texts])
    expected = inprocess.embed_texts(texts)
    assert vectors.shape == (4, 384)
    assert errors == ["", "", "", EMPTY_TEXT_ERROR]
    assert np.abs(vectors[:3] - expected.vectors[:3]).max() <= 1e-4


def test_image_ensemble_equals_in_process_and_isolates_bad_bytes(triton, inprocess, poster_images, synthetic_images):
    payloads = [*poster_images, b"not an image", synthetic_images[1]]
    vectors, errors = _infer(triton, "image_embed", "image", payloads)
    expected = inprocess.embed_images(payloads)
    assert vectors.shape == (6, 1280)
    assert errors[4].startswith("image: not a decodable JPEG or PNG")
    good = [0, 1, 2, 3, 5]
    assert all(errors[i] == "" for i in good)
    assert np.abs(vectors[good] - expected.vectors[good]).max() <= 1e-4


def test_metrics_endpoint_counts_requests(triton):
    before = _metric(triton, "nv_inference_request_success", "text_embed")
    _infer(triton, "text_embed", "text", [b"metrics please"])
    assert _requests_since(triton, before, 1) == 1


async def test_client_over_triton_chunks_to_max_batch_and_matches_in_process(triton, inprocess, poster_images):
    client = create_encoder_client(EncoderClientSettings(triton_url=triton.grpc_url))
    try:
        texts = [f"item number {i}: a film about {i} things" for i in range(70)]
        before = _metric(triton, "nv_inference_request_success", "text_embed")
        got = await client.embed_texts(texts)
        assert _requests_since(triton, before, 3) == 3  # 32 + 32 + 6
        assert np.abs(got.vectors - inprocess.embed_texts(texts).vectors).max() <= 1e-4
        again = await client.embed_texts(texts[:5])
        assert _requests_since(triton, before, 4) == 3  # served by the cache: no new request
        np.testing.assert_array_equal(again.vectors, got.vectors[:5])
        images = await client.embed_images([*poster_images, b"GIF89a...."])
        assert images.errors[-1] and images.errors[:-1] == [None] * len(poster_images)
        assert np.abs(images.vectors[:-1] - inprocess.embed_images(poster_images).vectors).max() <= 1e-4
    finally:
        await client.close()


async def test_deadline_against_triton(triton):
    client = create_encoder_client(EncoderClientSettings(triton_url=triton.grpc_url, max_batch_size=32))
    try:
        with pytest.raises(EncoderDeadlineExceededError):
            await client.embed_texts([f"text {i} " * 200 for i in range(32)], timeout_s=0.005)
    finally:
        await client.close()


async def test_unreachable_server_retries_with_backoff_then_raises(unused_address):
    settings = EncoderClientSettings(
        triton_url=unused_address, max_retries=3, backoff_initial_s=0.05, backoff_max_s=0.2, timeout_s=5
    )
    client = create_encoder_client(settings)
    try:
        started = time.perf_counter()
        with pytest.raises(EncoderUnavailableError, match=r"UNAVAILABLE.*after 3 retries"):
            await client.embed_texts(["anyone there?"])
        elapsed = time.perf_counter() - started
        assert 0.5 * (0.05 + 0.1 + 0.2) <= elapsed < 3.0  # three jittered back-offs, no hanging
    finally:
        await client.close()


async def test_circuit_opens_on_a_stopped_server_and_recovers_when_it_returns(forwarder):
    settings = EncoderClientSettings(
        triton_url=forwarder.address,
        max_retries=2,  # the first RPC after an outage can fail fast on the channel's stale state
        backoff_initial_s=0.1,
        breaker_failure_threshold=2,
        breaker_reset_s=1.0,
        reconnect_backoff_max_s=0.2,
        timeout_s=10,
    )
    client = create_encoder_client(settings)
    try:
        assert (await client.embed_texts(["up"])).errors == [None]
        forwarder.stop()
        for _ in range(2):
            with pytest.raises(EncoderUnavailableError):
                await client.embed_texts(["down"])
        started = time.perf_counter()
        with pytest.raises(CircuitOpenError):
            await client.embed_texts(["refused without a call"])
        assert time.perf_counter() - started < 0.05
        forwarder.start()
        await asyncio.sleep(1.1)  # cool-down: the next call is the half-open probe
        result = await client.embed_texts(["back"])
        assert result.errors == [None] and client.breaker.state.value == "closed"
    finally:
        await client.close()
