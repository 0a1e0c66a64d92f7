"""The new-item boost served: a ranker on an artifact with a boost ranks as the offline model does, and an item
upserted after training scores its trained twin's score plus the user's boost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kairos.v1 import ranker_pb2
from recmodel.model.content_channel import ContentChannel, ContentCodes
from recmodel.model.new_item_boost import NewItemBoost
from recmodel.model.serving import ServingModel
from tests.ranker_service.conftest import RankerFactory, copy_artifact
from tests.ranker_service.test_service_e2e import (
    MINUTE,
    append,
    dataset_item,
    offline_top,
    recommend_like_offline,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BETA = 1.5


def boosted_copy(artifact: Path, target: Path) -> tuple[Path, set[str]]:
    """A copy of ``artifact`` with a boost whose untrained items are every fifth catalogue item."""
    folder = copy_artifact(artifact, target)
    model = ServingModel.load(folder)
    c = model.catalogue()
    items = model.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=list(c.item_ids))
    trained = np.arange(len(c)) % 5 != 0
    NewItemBoost.fit(items, list(c.item_ids), trained, BETA).save(folder)
    return folder, {i for i, t in zip(c.item_ids, trained, strict=True) if not t}


def test_ranker_serves_the_boost_like_the_offline_model(
    tmp_path: Path, artifact: Path, user_state_address: str, start_ranker: RankerFactory
) -> None:
    folder, untrained = boosted_copy(artifact, tmp_path / "boosted")
    offline, plain = ServingModel.load(folder), ServingModel.load(artifact)
    assert offline.new_item_boost == pytest.approx(BETA) and offline.dim == plain.dim + 1
    ranker = start_ranker(folder, user_state_address)
    ids = offline.catalogue().item_ids
    history = [ids[j] for j in (11, 251, 34, 901, 42, 1201, 8, 78, 641, 6)]
    reply, times, request_ms = recommend_like_offline(ranker, offline, user_state_address, "boost-user", history)
    served = [i.item_id for i in reply.items]
    plain_ids, _ = offline_top(plain, history, times, request_ms, 10)
    assert sum(i in untrained for i in served) > sum(i in untrained for i in plain_ids)
    info = next(line for line in ranker.metrics().splitlines() if line.startswith("kairos_ranker_model_info{"))
    assert 'new_item_boost="1.50"' in info


def test_an_upserted_item_gets_the_boost_over_its_trained_twin(
    tmp_path: Path, artifact: Path, user_state_address: str, start_ranker: RankerFactory
) -> None:
    folder, untrained = boosted_copy(artifact, tmp_path / "boosted")
    offline = ServingModel.load(folder)
    ranker = start_ranker(folder, user_state_address)
    ids = offline.catalogue().item_ids
    history = [i for i in ids[300:330] if i not in untrained][:12]
    times = append(user_state_address, "twin-user", history)
    now = times[-1] + MINUTE
    request = ranker_pb2.RecommendRequest(user_id="twin-user", k=50, request_time_ms=now, exclude_seen=True)
    before = ranker.stub.Recommend(request, timeout=5)
    twin = next(i.item_id for i in before.items if i.item_id not in untrained)
    fields, image = dataset_item(twin)
    reply = ranker.stub.UpsertItems(
        ranker_pb2.UpsertItemsRequest(items=[ranker_pb2.Item(item_id="twin-new", text_fields=fields, image=image)]),
        timeout=60,
    )
    assert reply.upserted == 1, reply.results[0].error
    after = {i.item_id: i.score for i in ranker.stub.Recommend(request, timeout=5).items}
    c = offline.catalogue()
    rows = [c.item_ids.index(i) for i in history]
    items = offline.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=list(c.item_ids))
    user = offline.user_vectors_from_item_vectors(
        items[rows][None], np.array([times]), np.array([len(rows)]), np.array([now])
    )[0]
    assert user[-1] > 0  # beta * the user's score spread
    # the new item is its twin's content (the same text and poster) without the twin's residual, plus the boost
    j = c.item_ids.index(twin)
    new = offline.item_vectors(c.text[j : j + 1], c.image[j : j + 1], c.has_text[j : j + 1], c.has_image[j : j + 1],
                               item_ids=["twin-new"])[0]  # fmt: skip
    assert new[-1] == 1.0 and items[j, -1] == 0.0
    assert after["twin-new"] == pytest.approx(float(user @ new), rel=2e-2, abs=2e-3)
    assert after[twin] == pytest.approx(float(user @ items[j]), rel=1e-4, abs=1e-4)


def closest_item_copy(artifact: Path, target: Path) -> tuple[Path, set[str]]:
    """A copy of ``artifact`` whose new items (every fifth catalogue item, and any item upserted later) are placed
    by their closest recent history item: a max-match content channel that no dot product can serve."""
    folder = copy_artifact(artifact, target)
    model = ServingModel.load(folder)
    c = model.catalogue()
    items = model.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=list(c.item_ids))
    trained = np.arange(len(c)) % 5 != 0
    codes = ContentCodes.fit(c.text, c.image, c.has_text, c.has_image, trained, 16)
    boost = NewItemBoost.fit(items, list(c.item_ids), trained, -1.0)
    boost.with_content(ContentChannel(codes, 2.0, 3, 0.2, "max")).save(folder)
    return folder, {i for i, t in zip(c.item_ids, trained, strict=True) if not t}


def expected_scores(
    model: ServingModel, history: list[str], times: list[int], request_ms: int, extra: dict[str, np.ndarray]
) -> dict[str, float]:
    """Every catalogue item's score (plus ``extra`` new items' vectors) as offline scoring gives it: the dot
    product, plus the closest-item content term for the items without training events."""
    c = model.catalogue()
    ids = list(c.item_ids) + list(extra)
    items = model.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=list(c.item_ids))
    if extra:
        items = np.concatenate([items, np.stack(list(extra.values()))])
    rows = [ids.index(i) for i in history]
    history_vectors = items[rows][None]
    user = model.user_vectors_from_item_vectors(
        history_vectors, np.array([times]), np.array([len(rows)]), np.array([request_ms])
    )
    scores = (user @ items.T)[0]
    assert model.boost is not None
    new = np.array([i not in model.boost.trained_ids for i in ids])
    scores[new] += model.boost.served_terms(
        user, history_vectors, np.array([len(rows)]), items[new][:, model.boost.code_columns(items.shape[1])]
    )[0]
    return dict(zip(ids, scores.tolist(), strict=True))


def test_ranker_serves_a_closest_item_match_exactly(
    tmp_path: Path, artifact: Path, user_state_address: str, start_ranker: RankerFactory
) -> None:
    folder, untrained = closest_item_copy(artifact, tmp_path / "closest")
    offline = ServingModel.load(folder)
    assert offline.boost is not None and offline.boost.exact
    ranker = start_ranker(folder, user_state_address)
    ids = offline.catalogue().item_ids
    history = [i for i in ids[400:440] if i not in untrained][:10]
    times = append(user_state_address, "closest-user", history)
    now = times[-1] + MINUTE
    request = ranker_pb2.RecommendRequest(user_id="closest-user", k=30, request_time_ms=now, exclude_seen=True)
    # a look-alike of the last film: its text and poster under a new id, upserted after training
    fields, image = dataset_item(history[-1])
    reply = ranker.stub.UpsertItems(
        ranker_pb2.UpsertItemsRequest(items=[ranker_pb2.Item(item_id="look-alike", text_fields=fields, image=image)]),
        timeout=60,
    )
    assert reply.upserted == 1, reply.results[0].error
    served = ranker.stub.Recommend(request, timeout=5)
    assert ranker_pb2.DEGRADATION_NEW_ITEM_MATCH_SKIPPED not in served.degradations
    c = offline.catalogue()
    j = c.item_ids.index(history[-1])
    look_alike = offline.item_vectors(
        c.text[j : j + 1], c.image[j : j + 1], c.has_text[j : j + 1], c.has_image[j : j + 1], item_ids=["look-alike"]
    )[0]
    expected = expected_scores(offline, history, times, now, {"look-alike": look_alike})
    for seen in history:
        expected.pop(seen)
    top = sorted(expected, key=lambda i: -expected[i])[:30]
    got = [i.item_id for i in served.items]
    # the same top 30 (ties in float32 aside) with the same scores: new items included, scored exactly
    assert len(set(got) & set(top)) >= 29
    for item in served.items:
        assert item.score == pytest.approx(expected[item.item_id], rel=2e-3, abs=2e-3)
    assert sum(i in untrained or i == "look-alike" for i in got) >= 1
    assert "look-alike" in got[:3]  # the closest-item match puts the near-duplicate of the last film on top
    # exclusions and candidate lists hold for the items scored apart as for the searched ones
    excluded = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(
            user_id="closest-user", k=30, request_time_ms=now, exclude_seen=True, exclude_ids=["look-alike"]
        ),
        timeout=5,
    )
    assert "look-alike" not in [i.item_id for i in excluded.items] and len(excluded.items) == 30
    candidates = [*sorted(untrained)[:5], *[i for i in ids[600:640] if i not in untrained][:5], "look-alike"]
    picked = ranker.stub.Recommend(
        ranker_pb2.RecommendRequest(user_id="closest-user", k=4, request_time_ms=now, candidate_ids=candidates),
        timeout=5,
    )
    want = sorted(candidates, key=lambda i: -expected[i])[:4]
    assert [i.item_id for i in picked.items] == want
    for item in picked.items:
        assert item.score == pytest.approx(expected[item.item_id], rel=2e-3, abs=2e-3)
    # above the configured number of new items the term is skipped, and the answer says so
    capped = start_ranker(folder, user_state_address, name="capped", env={"KAIROS_RANKER_NEW_ITEM_EXACT_MAX": "3"})
    reply = capped.stub.Recommend(request, timeout=5)
    assert ranker_pb2.DEGRADATION_NEW_ITEM_MATCH_SKIPPED in reply.degradations
