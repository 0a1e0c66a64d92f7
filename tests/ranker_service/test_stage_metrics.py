"""Where a Recommend's time goes: the per-stage histogram of a real ranker accounts for its requests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kairos.v1 import ranker_pb2
from ranker.service.metrics import RECOMMEND_STAGES
from tests.ranker_service.conftest import RankerFactory
from tests.ranker_service.test_service_e2e import append

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _series(text: str, name: str, **labels: str) -> float:
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    braces = f"\\{{{selector}\\}}" if selector else ""
    match = re.search(rf"^{name}{braces} ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name}{{{selector}}} missing"
    return float(match.group(1))


def test_every_stage_is_timed_and_the_parts_fit_in_the_whole(
    artifact: Path, user_state_address: str, start_ranker: RankerFactory
) -> None:
    ranker = start_ranker(artifact, user_state_address)
    before = ranker.metrics()
    for stage in RECOMMEND_STAGES:  # exported at zero from the start
        assert _series(before, "kairos_ranker_recommend_stage_seconds_count", stage=stage) == 0
    ids = [str(i) for i in range(10, 30)]
    append(user_state_address, "stage-user", ids)
    calls = 12
    for _ in range(calls):
        ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="stage-user", k=10), timeout=5)
    text = ranker.metrics()
    for stage in ("validate", "batch_wait", "response"):
        assert _series(text, "kairos_ranker_recommend_stage_seconds_count", stage=stage) == calls
    batches = _series(text, "kairos_ranker_batch_size_count")
    for stage in ("user_state", "compute_wait", "history_model", "scoring"):
        assert _series(text, "kairos_ranker_recommend_stage_seconds_count", stage=stage) == batches
    total = _series(text, "kairos_rpc_latency_seconds_sum", method="Recommend", service="kairos.v1.Ranker")
    parts = sum(_series(text, "kairos_ranker_recommend_stage_seconds_sum", stage=stage) for stage in RECOMMEND_STAGES)
    assert 0 < parts <= total * 1.05  # one request per batch here: the stages add up to less than the RPCs took
