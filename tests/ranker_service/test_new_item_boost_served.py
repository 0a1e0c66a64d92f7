"""The new-item boost served: a ranker on an artifact with a boost ranks as the offline model does, and an item
upserted after training scores its trained twin's score plus the user's boost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kairos.v1 import ranker_pb2
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
