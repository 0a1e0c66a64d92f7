"""The random-ranking reference of the evaluation reports."""

from __future__ import annotations

import math

import pytest

from recmodel.training.report import random_ndcg_at_10


def test_random_ranking_reference() -> None:
    assert random_ndcg_at_10(1) == pytest.approx(1.0)
    assert random_ndcg_at_10(2) == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert random_ndcg_at_10(1682) == pytest.approx(0.0027, abs=5e-5)
