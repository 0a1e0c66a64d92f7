"""Cold-start measurements on hand-made scores: cold-only, full ranking, exposure, history masking."""

from __future__ import annotations

import numpy as np
import pytest

from recmodel.data.splits import EvalCases, Sequence
from recmodel.evaluation.protocol import masked, measure, per_case_metrics, ranks_among


def _cases(targets: list[int], seen: list[list[int]]) -> EvalCases:
    n = len(targets)
    hist = [Sequence(np.array([0]), np.array([0]), np.array([0])) for _ in range(n)]
    return EvalCases(
        users=np.arange(n),
        histories=hist,
        targets=np.array(targets),
        target_times_ms=np.zeros(n, dtype=np.int64),
        target_domains=np.zeros(n, dtype=np.int64),
        cold=np.zeros(n, dtype=bool),
        seen=[np.array(s, dtype=np.int64) for s in seen],
    )


def test_per_case_metrics_by_hand() -> None:
    m = per_case_metrics(np.array([0, 9, 10, 19, 25]))
    assert m["hr@10"].tolist() == [1, 1, 0, 0, 0]
    assert m["recall@20"].tolist() == [1, 1, 1, 1, 0]
    assert m["ndcg@10"][0] == 1.0
    assert m["ndcg@10"][1] == pytest.approx(1 / np.log2(11))
    assert m["ndcg@20"][3] == pytest.approx(1 / np.log2(21))


def test_ties_count_against_the_target() -> None:
    scores = np.array([[1.0, 1.0, 1.0, 0.0]])
    assert ranks_among(scores, np.array([0]), np.arange(4)).tolist() == [2]


def test_history_is_masked_but_the_target_kept() -> None:
    scores = np.array([[5.0, 4.0, 3.0, 2.0]])
    cases = _cases([2], [[0, 2]])
    out = masked(scores, cases)
    assert out[0, 0] == -np.inf and out[0, 2] == 3.0 and out[0, 1] == 4.0


def test_measure_cold_only_full_and_exposure() -> None:
    # items 0..5; items 4 and 5 are cold
    cold_items = np.array([False, False, False, False, True, True])
    cold_cases = _cases([5], [[0]])
    cold_scores = np.array([[9.0, 8.0, 7.0, 6.0, 1.0, 2.0]])  # target 5 first among cold, 4th of all after mask
    warm_cases = _cases([1, 2], [[], [3]])
    warm_scores = np.array([[0.0, 5.0, 1.0, 2.0, 6.0, 0.5], [1.0, 2.0, 3.0, 9.0, 0.0, 0.0]])
    m = measure(cold_scores, cold_cases, warm_scores, warm_cases, cold_items)
    assert m.cold_only["hr@10"].tolist() == [1.0]
    assert m.cold_only["ndcg@10"].tolist() == [1.0]
    # full ranking: item 0 masked; 1, 2, 3 above the target -> rank 3
    assert m.cold_full["ndcg@10"][0] == pytest.approx(1 / np.log2(5))
    # warm case 0: cold item 4 above the target: rank 1 with cold items, 0 without them
    assert m.warm["ndcg@10"][0] == pytest.approx(1 / np.log2(3))
    assert m.warm_without_cold["ndcg@10"][0] == 1.0
    # the top 10 holds every rankable item: 6 in case 0, 5 in case 1 (item 3 masked); 2 of them cold
    assert m.exposure.tolist() == pytest.approx([2 / 6, 2 / 5])
    summary = m.summary()
    assert summary["exposure_cost_ndcg10"] > 0


def test_measure_rejects_misshaped_scores() -> None:
    cases = _cases([0], [[]])
    with pytest.raises(ValueError, match="cold_scores"):
        measure(np.zeros((1, 3)), cases, np.zeros((1, 4)), cases, np.zeros(4, dtype=bool))
