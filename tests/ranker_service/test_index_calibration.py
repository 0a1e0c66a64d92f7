"""'auto' exact scoring: the int8 first pass and float32 columns are timed on the index itself and the faster kept;
answers are exact either way."""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import pytest

from ranker.index import IndexConfig, ItemIndex, SearchQuery
from ranker.index import item_index as item_index_module
from ranker.index.calibration import CALIBRATION_MIN_ITEMS, first_pass_faster, time_exact_paths

PrefilterMode = Literal["auto", "off", "bfloat16", "int8"]


def test_timing_tells_the_slower_kind_apart() -> None:
    calls: list[tuple[str, int]] = []

    def run(kind: str, users: np.ndarray, k: int) -> None:
        calls.append((kind, len(users)))
        time.sleep(0.002 if kind == "float32" else 0.0)

    seconds = time_exact_paths(run, np.ones((10, 4), np.float32))
    assert len(seconds["float32"]) == len(seconds["first_pass"]) == 2  # one median per batch size
    assert min(seconds["float32"]) >= 0.002
    assert first_pass_faster(seconds)
    assert {b for _, b in calls} == {1, 32} and {k for k, _ in calls} == {"first_pass", "float32"}


def test_a_lone_request_weighs_as_much_as_a_full_batch() -> None:
    # 3x faster for one user, 1.2x slower for 32: a sum of seconds would keep float32 (25 ms vs 23 ms)
    assert first_pass_faster({"first_pass": [0.001, 0.024], "float32": [0.003, 0.020]})
    assert not first_pass_faster({"first_pass": [0.0011, 0.030], "float32": [0.001, 0.020]})


@pytest.mark.parametrize(("first_pass_s", "float32_s", "chosen"), [(0.001, 0.002, "int8"), (0.003, 0.002, "float32")])
def test_auto_keeps_the_faster_copy(monkeypatch, first_pass_s: float, float32_s: float, chosen: str) -> None:
    monkeypatch.setattr(item_index_module, "prefilter_kind", lambda mode: "int8")  # as on a CPU with VNNI
    measured: list[int] = []

    def fake_timing(run, vectors):
        run("first_pass", vectors[:2], 10)  # both copies really answer during calibration
        run("float32", vectors[:2], 10)
        measured.append(len(vectors))
        return {"first_pass": [first_pass_s, first_pass_s], "float32": [float32_s, float32_s]}

    monkeypatch.setattr(item_index_module, "time_exact_paths", fake_timing)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((CALIBRATION_MIN_ITEMS, 16)).astype(np.float32)
    ids = [f"i{j}" for j in range(len(vectors))]
    index = ItemIndex.build(ids, vectors, IndexConfig(exact_prefilter="auto"))
    assert measured == [CALIBRATION_MIN_ITEMS] and index.exact_scoring == chosen
    users = rng.standard_normal((3, 16)).astype(np.float32)
    results = index.search(users, [SearchQuery(user=b, k=10) for b in range(3)])
    expected = [[ids[j] for j in np.argsort(-row, kind="stable")[:10]] for row in users @ vectors.T]
    assert [r.item_ids for r in results] == expected
    index.upsert(["new"], users[:1] * 100)  # the kept copy takes upserts
    assert index.search(users[:1], [SearchQuery(user=0, k=1)])[0].item_ids == ["new"]


def test_small_or_forced_indexes_are_not_calibrated(monkeypatch) -> None:
    monkeypatch.setattr(item_index_module, "prefilter_kind", lambda mode: "int8" if mode in ("auto", "int8") else None)
    monkeypatch.setattr(item_index_module, "time_exact_paths", lambda *a: pytest.fail("calibrated"))
    vectors = np.random.default_rng(1).standard_normal((CALIBRATION_MIN_ITEMS, 8)).astype(np.float32)
    ids = [f"i{j}" for j in range(len(vectors))]
    assert ItemIndex.build(ids[:100], vectors[:100], IndexConfig(exact_prefilter="auto")).exact_scoring == "int8"
    assert ItemIndex.build(ids, vectors, IndexConfig(exact_prefilter="int8")).exact_scoring == "int8"
    assert ItemIndex.build(ids, vectors, IndexConfig(exact_prefilter="off")).exact_scoring == "float32"


@pytest.mark.parametrize("mode", ["off", "int8", "bfloat16"])
def test_scoring_only_the_columns_users_can_use_changes_no_answer(mode: PrefilterMode) -> None:
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((5000, 24)).astype(np.float32)
    users = rng.standard_normal((6, 24)).astype(np.float32)
    cols = np.r_[0:10, 16:24]
    users[:, 10:16] = 0.0  # as the model's user vectors are in the content-code block
    ids = [f"i{j}" for j in range(len(vectors))]
    full = ItemIndex.build(ids, vectors, IndexConfig(exact_prefilter=mode))
    reduced = ItemIndex.build(ids, vectors, IndexConfig(exact_prefilter=mode), score_columns=cols)
    assert reduced.score_columns is not None and list(reduced.score_columns) == list(cols)
    queries = [SearchQuery(user=b, k=10) for b in range(len(users))]
    for a, b in zip(full.search(users, queries), reduced.search(users, queries), strict=True):
        assert a.item_ids == b.item_ids
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)
    reduced.upsert(["new"], (users[0] * 50)[None, :])
    assert reduced.search(users[:1], [SearchQuery(user=0, k=1)])[0].item_ids == ["new"]
