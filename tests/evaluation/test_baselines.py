"""Baselines and the time cold split on the synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recmodel.data.contract import DatasetError
from recmodel.data.loaders import load_ml100k_mm
from recmodel.data.splits import cold_items, leave_one_out
from recmodel.evaluation.baselines import ContentKnn, content_vectors, popularity_scores, random_scores
from recmodel.evaluation.cold_start_runs import choose_knn_k
from recmodel.model.catalogue import Catalogue


def test_time_split_holds_out_the_newest_items(synthetic_root: Path) -> None:
    dataset = load_ml100k_mm(synthetic_root / "ml100k-mm")
    cold = cold_items(dataset, 0.2, "time")
    index = {item: i for i, item in enumerate(dataset.items.item_ids)}
    first = {}
    for item, t in zip(dataset.events.item_ids, dataset.events.timestamps_ms, strict=True):
        first[index[item]] = min(first.get(index[item], t), t)
    firsts = np.array([first.get(i, np.iinfo(np.int64).max) for i in range(len(cold))])
    assert cold.sum() == round(0.2 * len(cold))
    assert firsts[cold].min() >= firsts[~cold].max()  # every cold item is at least as new as every warm one
    split = leave_one_out(dataset, 0.2, seed=0, max_len=10, cold_by="time")
    assert (split.cold_items == cold).all()
    assert not any(cold[s.items].any() for s in split.train)
    assert not any(cold[h.items].any() for h in split.test.histories)


def test_time_split_ignores_the_seed_and_random_split_uses_it(synthetic_root: Path) -> None:
    dataset = load_ml100k_mm(synthetic_root / "ml100k-mm")
    assert (cold_items(dataset, 0.1, "time", 0) == cold_items(dataset, 0.1, "time", 5)).all()
    assert not (cold_items(dataset, 0.1, "random", 0) == cold_items(dataset, 0.1, "random", 5)).all()
    # the random split is the one leave_one_out always drew (seeded choice of round(fraction * N) items)
    expected = np.zeros(len(dataset.items), dtype=bool)
    expected[np.random.default_rng(0).choice(len(expected), size=round(0.1 * len(expected)), replace=False)] = True
    assert (cold_items(dataset, 0.1, "random", 0) == expected).all()
    with pytest.raises(DatasetError, match="cold_by"):
        cold_items(dataset, 0.1, "later")  # type: ignore[arg-type]


def test_content_vectors_are_unit_length_and_zero_when_absent(synthetic_split, synthetic_catalogue) -> None:
    cat: Catalogue = synthetic_catalogue
    both = content_vectors(cat, "both", synthetic_split.train_items)
    full = cat.has_text & cat.has_image
    assert np.allclose(np.linalg.norm(both[full], axis=1), 1.0, atol=1e-5)
    image = content_vectors(cat, "image", synthetic_split.train_items)
    assert np.all(image[~cat.has_image] == 0)


def test_knn_puts_a_look_alike_of_the_last_item_first(synthetic_split, synthetic_catalogue) -> None:
    cat: Catalogue = synthetic_catalogue
    vectors = content_vectors(cat, "text", synthetic_split.train_items)
    cases = synthetic_split.test
    scores = ContentKnn(vectors, k=1).scores(cases)
    last = np.array([h.items[-1] for h in cases.histories])
    assert (scores.argmax(1) == last).all()  # the item itself is the closest to its own vector
    k, table = choose_knn_k(synthetic_split, vectors)
    assert k in table and table[k] == max(table.values())


def test_popularity_and_random_scores(synthetic_split) -> None:
    cases = synthetic_split.test
    pop = popularity_scores(synthetic_split, cases)
    assert pop.shape == (len(cases), synthetic_split.num_items)
    assert (pop[:, synthetic_split.cold_items] == 0).all()
    counts = np.zeros(synthetic_split.num_items)
    for s in synthetic_split.train:
        np.add.at(counts, s.items, 1)
    assert (pop[0] == counts).all()
    r1, r2 = random_scores(10, cases, 1), random_scores(10, cases, 1)
    assert (r1 == r2).all() and r1.shape == (len(cases), 10)
