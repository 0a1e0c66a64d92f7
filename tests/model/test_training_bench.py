"""bench/training_bench.py: its synthetic catalogues and its extrapolation (the bench itself: make bench-training)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.training_bench import extrapolate, synthesise
from recmodel.data.splits import Split
from recmodel.model.catalogue import Catalogue


def test_synthetic_catalogue_keeps_the_events_and_spreads_them_over_copies(
    synthetic_split: Split, synthetic_catalogue: Catalogue
) -> None:
    n = synthetic_split.num_items
    split, catalogue = synthesise(synthetic_split, synthetic_catalogue, 5 * n)
    assert split.num_items == len(catalogue) == 5 * n and catalogue.train_counts is not None
    assert sum(len(s.items) for s in split.train) == sum(len(s.items) for s in synthetic_split.train)
    assert catalogue.train_counts.sum() == synthetic_split.train_counts().sum()
    assert catalogue.train_counts[n:].sum() > 0.5 * catalogue.train_counts.sum()  # most events move to copies
    np.testing.assert_array_equal(catalogue.text[:n], synthetic_catalogue.text)
    np.testing.assert_allclose(np.linalg.norm(catalogue.text[n:], axis=1), 1.0, rtol=1e-5)
    assert split.train_items.sum() > synthetic_split.train_items.sum()
    assert synthesise(synthetic_split, synthetic_catalogue, n)[0] is synthetic_split


def test_extrapolation_is_the_least_squares_line() -> None:
    assert extrapolate({1000: 2.0, 2000: 3.0, 4000: 5.0}, 100_000) == pytest.approx(101.0)
