"""A user with no history gets the artifact's most popular items (training counts), flagged as the fallback, and
the counts keep learning from the events the ranker sees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kairos.v1 import ranker_pb2
from recmodel.model.serving import ServingModel
from tests.ranker_service.conftest import RankerFactory
from tests.ranker_service.test_service_e2e import append

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Degradation = ranker_pb2.Degradation


def _most_popular(model: ServingModel, k: int) -> list[str]:
    counts = model.popularity()
    return sorted(counts, key=lambda i: -counts[i])[:k]


def test_serving_model_exposes_the_training_counts(artifact: Path) -> None:
    model = ServingModel.load(artifact)
    counts = model.popularity()
    c = model.catalogue()
    assert c.train_counts is not None and len(counts) == int((c.train_counts > 0).sum()) > 0
    assert sum(counts.values()) == float(c.train_counts.sum())
    top = max(counts, key=counts.__getitem__)
    assert counts[top] == float(c.train_counts.max())


def test_a_new_user_gets_the_most_popular_items(
    artifact: Path, user_state_address: str, start_ranker: RankerFactory
) -> None:
    model = ServingModel.load(artifact)
    ranker = start_ranker(artifact, user_state_address)
    reply = ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="nobody-yet", k=5), timeout=5)
    assert list(reply.degradations) == [Degradation.DEGRADATION_POPULARITY_FALLBACK]
    counts = model.popularity()
    served = [i.item_id for i in reply.items]
    assert len(served) == 5
    # the five highest training counts (ties in any order), with those counts as scores
    assert sorted(counts[i] for i in served) == sorted(counts[i] for i in _most_popular(model, 5))
    np.testing.assert_allclose([i.score for i in reply.items], [counts[i] for i in served])
    # events the ranker sees count too: a user's history lifts an unpopular item into the fallback list
    rare = min(counts, key=counts.__getitem__)
    for n in range(int(max(counts.values())) + 2):
        append(user_state_address, f"fan-{n}", [rare])
        ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id=f"fan-{n}", k=1), timeout=5)
    again = ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="still-nobody", k=5), timeout=5)
    assert again.items[0].item_id == rare
