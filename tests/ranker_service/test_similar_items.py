"""SimilarItems against a real ranker (in-process encoders) and user-state: by id and by inline content, equal to
the served model's item space computed offline; filters, a fresh item, errors, and the ANN index path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from kairos.v1 import ranker_pb2
from ranker.service.similar import QUERY_ID
from recmodel.model.serving import ServingModel
from tests.ranker_service.conftest import RankerProcess, launch_ranker
from tests.ranker_service.test_service_e2e import append, dataset_item

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def ranker(
    tmp_path_factory: pytest.TempPathFactory, artifact: Path, user_state_address: str
) -> Iterator[RankerProcess]:
    process = launch_ranker(tmp_path_factory.mktemp("similar"), artifact, user_state_address)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def offline(artifact: Path) -> tuple[ServingModel, np.ndarray, list[str]]:
    model = ServingModel.load(artifact)
    c = model.catalogue()
    ids = list(c.item_ids)
    return model, model.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=ids), ids


def _offline_top(vectors: np.ndarray, ids: list[str], query: np.ndarray, k: int, dim: int, skip: set[str]):
    scores = vectors[:, :dim] @ query[:dim]
    order = [j for j in np.argsort(-scores, kind="stable") if ids[j] not in skip][:k]
    return [ids[j] for j in order], scores[order]


def _similar(ranker: RankerProcess, **fields) -> ranker_pb2.SimilarItemsResponse:
    return ranker.stub.SimilarItems(ranker_pb2.SimilarItemsRequest(**fields), timeout=30)


def test_by_id_is_the_model_item_space_top_k(ranker: RankerProcess, offline) -> None:
    model, vectors, ids = offline
    for j in (3, 100, 777):
        reply = _similar(ranker, item_id=ids[j], k=10)
        expected, scores = _offline_top(vectors, ids, vectors[j], 10, model.model_dim, {ids[j]})
        assert [i.item_id for i in reply.items] == expected
        np.testing.assert_allclose([i.score for i in reply.items], scores, rtol=1e-4, atol=1e-5)
        assert reply.model_version == model.version and ids[j] not in expected


def test_filters_and_the_users_history(ranker: RankerProcess, offline, user_state_address: str) -> None:
    _, _, ids = offline
    top = [i.item_id for i in _similar(ranker, item_id=ids[5], k=20).items]
    excluded = _similar(ranker, item_id=ids[5], k=10, exclude_ids=top[:3])
    assert [i.item_id for i in excluded.items] == top[3:13]
    only = _similar(ranker, item_id=ids[5], k=5, candidate_ids=[top[7], top[2], "no-such-item", ids[5]])
    assert [i.item_id for i in only.items] == [top[2], top[7]]
    assert list(only.unknown_candidate_ids) == ["no-such-item"]
    append(user_state_address, "similar-user", top[:4])
    mine = _similar(ranker, item_id=ids[5], k=10, user_id="similar-user")
    assert [i.item_id for i in mine.items] == top[4:14] and not mine.degradations


def test_inline_content_and_an_item_upserted_a_moment_ago(ranker: RankerProcess, offline) -> None:
    model, vectors, ids = offline
    c = model.catalogue()
    j = 41
    fields, image = dataset_item(ids[j])
    query = model.item_vectors(c.text[j : j + 1], c.image[j : j + 1], c.has_text[j : j + 1], c.has_image[j : j + 1],
                               item_ids=[QUERY_ID])[0]  # fmt: skip
    reply = _similar(ranker, content=ranker_pb2.Item(text_fields=fields, image=image), k=10)
    expected, scores = _offline_top(vectors, ids, query, 10, model.model_dim, set())
    assert [i.item_id for i in reply.items][:5] == expected[:5]  # the ranker encodes the content itself
    np.testing.assert_allclose([i.score for i in reply.items], scores, rtol=2e-2, atol=2e-3)
    upserted = ranker.stub.UpsertItems(
        ranker_pb2.UpsertItemsRequest(
            items=[ranker_pb2.Item(item_id="similar-fresh", text_fields=fields, image=image)]
        ),
        timeout=60,
    )
    assert upserted.upserted == 1
    fresh = _similar(ranker, item_id="similar-fresh", k=10)
    assert [i.item_id for i in fresh.items][:5] == expected[:5]
    assert "similar-fresh" not in [i.item_id for i in fresh.items]


def test_bad_requests_name_the_field(ranker: RankerProcess, offline) -> None:
    _, _, ids = offline
    cases = [
        ({"k": 5}, grpc.StatusCode.INVALID_ARGUMENT, "query:"),
        ({"item_id": ids[0], "k": 0}, grpc.StatusCode.INVALID_ARGUMENT, "k:"),
        ({"item_id": "nope", "k": 3}, grpc.StatusCode.NOT_FOUND, "item_id:"),
        ({"content": ranker_pb2.Item(), "k": 3}, grpc.StatusCode.INVALID_ARGUMENT, "content:"),
        ({"item_id": ids[0], "k": 3, "exclude_ids": [""]}, grpc.StatusCode.INVALID_ARGUMENT, "exclude_ids[0]:"),
    ]
    for fields, code, field in cases:
        with pytest.raises(grpc.RpcError) as info:
            _similar(ranker, **fields)
        assert info.value.code() == code, fields
        assert info.value.details().startswith(field), info.value.details()


def test_the_ann_index_path_agrees_with_exact(
    tmp_path: Path, artifact: Path, user_state_address: str, ranker: RankerProcess, offline
) -> None:
    _, _, ids = offline
    env = {"KAIROS_RANKER_INDEX__EXACT_MAX_ITEMS": "100", "KAIROS_RANKER_INDEX__ANN_NPROBE": "16"}
    ann = launch_ranker(tmp_path, artifact, user_state_address, name="ann", env=env)
    try:
        recalls = []
        for j in (3, 100, 777, 1200):
            exact = {i.item_id for i in _similar(ranker, item_id=ids[j], k=10).items}
            approx = {i.item_id for i in _similar(ann, item_id=ids[j], k=10).items}
            recalls.append(len(exact & approx) / 10)
        assert np.mean(recalls) >= 0.8
    finally:
        ann.stop()
