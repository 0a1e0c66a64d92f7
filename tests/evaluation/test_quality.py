"""The evaluation report's statistics: per-user seed means, paired comparisons on common seeds, verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from recmodel.evaluation.bootstrap import PairedDifference
from recmodel.evaluation.quality import NO_DIFFERENCE, compare, holm, per_user, row_summary, verdict


def _run(seed: int | None, ranks: list[int], users: list[int] | None = None, model: str = "m") -> dict:
    users = users if users is not None else list(range(len(ranks)))
    return {"model": model, "seed": seed, "ranks": {"warm_users": users, "warm": ranks, "warm_masked": ranks}}


def test_per_user_averages_each_users_metric_over_the_chosen_seeds() -> None:
    runs = [_run(0, [0, 20, 1]), _run(1, [0, 0, 20]), _run(2, [50, 50, 50])]
    values = per_user(runs, "warm_masked", "hr@10", seeds=[0, 1])
    np.testing.assert_allclose(values, [1.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="other test users"):
        per_user([_run(0, [0, 1]), _run(1, [0, 1], users=[1, 0])], "warm", "hr@10")


def test_compare_pairs_on_common_seeds_and_a_baseline_with_every_seed() -> None:
    rng = np.random.default_rng(0)
    n = 400
    good = [_run(s, rng.integers(0, 5, n).tolist()) for s in (0, 1, 2)]
    bad = [_run(s, rng.integers(0, 100, n).tolist()) for s in (1, 2, 3)]
    result = compare(good, bad, "warm_masked", "ndcg@10")
    assert result is not None and result["seeds"] == [1, 2]
    assert result["ci_low"] > 0 and result["p_value"] < 0.01 and result["ratio"] > 1
    baseline = [_run(None, rng.integers(0, 100, n).tolist())]
    assert compare(good, baseline, "warm_masked", "ndcg@10")["seeds"] == [0, 1, 2]
    assert compare(good, [_run(7, [0] * n)], "warm_masked", "ndcg@10") is None


def test_same_ranks_are_no_measurable_difference() -> None:
    runs = [_run(0, [0, 3, 20, 1])]
    result = compare(runs, runs, "warm_masked", "ndcg@10")
    assert result["delta"] == 0 and result["p_value"] == 1.0
    assert verdict(PairedDifference(0.0, 0.0, 0.0, 1.0), "a", "b") == NO_DIFFERENCE
    assert verdict(PairedDifference(0.01, -0.001, 0.02, 0.2), "a", "b") == NO_DIFFERENCE
    assert verdict(PairedDifference(0.01, 0.001, 0.02, 0.01), "a", "b") == "a better"
    assert verdict(PairedDifference(-0.01, -0.02, -0.001, 0.01), "a", "b") == "b better"


def test_holm_adjusts_in_order_and_stays_monotone() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_row_summary_has_intervals_and_per_seed_means() -> None:
    summary = row_summary([_run(0, [0, 50]), _run(1, [0, 0])], resamples=200)
    cell = summary["warm_masked/hr@10"]
    assert cell["per_seed"] == [0.5, 1.0] and cell["mean"] == pytest.approx(0.75)
    assert cell["ci_low"] <= cell["mean"] <= cell["ci_high"] and summary["seeds"] == [0, 1]
