"""Bootstrap intervals and paired tests: coverage, sign, and the no-difference case."""

from __future__ import annotations

import numpy as np
import pytest

from recmodel.evaluation.bootstrap import bootstrap_interval, paired_bootstrap


def test_interval_contains_the_mean_and_narrows_with_more_cases() -> None:
    rng = np.random.default_rng(0)
    small = bootstrap_interval(rng.binomial(1, 0.3, size=100).astype(float))
    large = bootstrap_interval(rng.binomial(1, 0.3, size=10_000).astype(float))
    assert small.low <= small.mean <= small.high
    assert large.low <= 0.3 <= large.high
    assert (large.high - large.low) < (small.high - small.low) / 5


def test_interval_width_matches_the_normal_approximation() -> None:
    values = np.random.default_rng(1).binomial(1, 0.2, size=2000).astype(float)
    interval = bootstrap_interval(values)
    half = 1.96 * values.std() / np.sqrt(len(values))
    assert interval.high - interval.low == pytest.approx(2 * half, rel=0.15)


def test_paired_test_detects_a_consistent_gain() -> None:
    rng = np.random.default_rng(2)
    base = rng.random(500)
    result = paired_bootstrap(base + 0.05 + rng.normal(0, 0.01, 500), base)
    assert result.delta == pytest.approx(0.05, abs=0.005)
    assert result.low > 0 and result.significant
    assert result.p_value < 0.01


def test_paired_test_reports_no_difference_for_noise() -> None:
    rng = np.random.default_rng(3)
    a = rng.random(300)
    noise = rng.normal(0, 0.1, 150)
    b = a + np.concatenate([noise, -noise])  # differences of mean exactly 0
    result = paired_bootstrap(a, b)
    assert result.low < 0 < result.high
    assert not result.significant
    assert result.p_value > 0.05
    same = paired_bootstrap(a, a)
    assert same.delta == 0 and same.p_value == 1.0


def test_paired_test_rejects_unpaired_inputs() -> None:
    with pytest.raises(ValueError, match="a/b"):
        paired_bootstrap(np.zeros(3), np.zeros(4))
