"""Dataset contract, loaders and leave-one-out / cold-start splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recmodel.data.batches import eval_batch, training_batch
from recmodel.data.contract import DatasetError
from recmodel.data.domains import item_domain, with_genre_domains
from recmodel.data.loaders import load_events, load_items, load_ml100k_mm
from recmodel.data.splits import leave_one_out, training_windows, user_sequences
from recmodel.settings import RankerPaths


def test_events_csv_seconds_become_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,timestamp\nu,a,874965478\nu,b,874965479\n")
    events = load_events(path, time_unit="s")
    assert events.timestamps_ms.tolist() == [874_965_478_000, 874_965_479_000]
    assert events.timestamps_ms.dtype == np.int64 and events.domains is None


def test_events_parquet_with_domain_and_type(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pd.DataFrame(
        {"user_id": ["1"], "item_id": ["9"], "timestamp": [5], "domain": ["books"], "event_type": ["click"]}
    ).to_parquet(path)
    events = load_events(path, time_unit="ms")
    assert events.timestamps_ms.tolist() == [5]
    assert events.domains.tolist() == ["books"] and events.event_types.tolist() == ["click"]


@pytest.mark.parametrize(
    ("content", "field"),
    [("user_id,item_id\nu,a\n", "timestamp"), ("user_id,item_id,timestamp\nu,a,x\n", "timestamp")],
)
def test_bad_events_name_the_field(tmp_path: Path, content: str, field: str) -> None:
    path = tmp_path / "e.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=field):
        load_events(path)


def test_items_missing_text_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,title\n1,A\n")
    with pytest.raises(DatasetError, match="genres"):
        load_items(path)


def test_ties_keep_file_order(tmp_path: Path) -> None:
    events = tmp_path / "interactions.csv"
    events.write_text("user_id,item_id,rating,timestamp\n1,3,5,100\n1,1,5,100\n1,2,5,99\n")
    (tmp_path / "items.csv").write_text(
        "item_id,title,year,genres,plot,image\n1,a,1,Drama,,\n2,b,1,Drama,,\n3,c,1,Drama,,\n"
    )
    _, seqs, _ = user_sequences(load_ml100k_mm(tmp_path))
    assert seqs[0].items.tolist() == [1, 2, 0]  # item 2 (t=99), then file order: item 3, item 1


def test_leave_one_out_has_no_leakage(synthetic_split) -> None:
    split = synthetic_split
    by_user = {int(u): i for i, u in enumerate(split.test.users)}
    for u, train in enumerate(split.train):
        if u not in by_user:
            continue
        case = by_user[u]
        target, t_time = split.test.targets[case], split.test.target_times_ms[case]
        assert target not in train.items, "test target appears in its own training prefix"
        assert target not in split.test.histories[case].items
        assert (train.times_ms <= t_time).all()
        valid_case = np.flatnonzero(split.valid.users == u)[0]
        assert split.valid.target_times_ms[valid_case] <= t_time
        assert split.valid.targets[valid_case] not in train.items


def test_cold_items_are_withheld_everywhere(synthetic_split) -> None:
    split = synthetic_split
    cold = np.flatnonzero(split.cold_items)
    assert len(cold) == round(0.1 * split.num_items)
    for seq in split.train:
        assert not np.isin(seq.items, cold).any()
    for cases in (split.valid, split.test):
        for hist in cases.histories:
            assert not np.isin(hist.items, cold).any()
    assert not split.train_items[cold].any()
    assert (split.test.cold == split.cold_items[split.test.targets]).all()


def test_histories_are_truncated_to_max_len(synthetic_split) -> None:
    assert max(len(h.items) for h in synthetic_split.test.histories) == 10
    for hist in synthetic_split.test.histories:
        assert (np.diff(hist.times_ms) >= 0).all()


def test_training_windows_cover_every_target_once(synthetic_split) -> None:
    windows = training_windows(synthetic_split.train, max_len=10)
    assert all(2 <= len(w.items) <= 11 for w in windows)
    n_targets = sum(len(w.items) - 1 for w in windows)
    assert n_targets == sum(max(len(s.items) - 1, 0) for s in synthetic_split.train)
    batch = training_batch(windows[:4])
    assert batch.items.shape == batch.targets.shape
    assert ((batch.targets >= 0) == batch.seq.mask).all()
    assert (batch.seq.request_ms[batch.seq.mask] >= batch.seq.times_ms[batch.seq.mask]).all()


def test_eval_batch_requests_at_target_time(synthetic_split) -> None:
    cases = synthetic_split.test
    batch = eval_batch(cases, np.arange(3))
    last = batch.lengths - 1
    assert (batch.seq.request_ms.gather(1, last[:, None]).squeeze(1).numpy() == cases.target_times_ms[:3]).all()


def test_genre_domains(synthetic_root) -> None:
    assert item_domain(["Thriller", "Drama"]) == "thrill" and item_domain(["Drama", "Thriller"]) == "heart"
    dataset = with_genre_domains(load_ml100k_mm(synthetic_root / "ml100k-mm"))
    assert set(dataset.events.domains.tolist()) <= {"heart", "thrill"}


@pytest.mark.skipif(not (RankerPaths().data_dir / "interactions.csv").exists(), reason="ml100k-mm not present")
def test_real_ml100k_split() -> None:
    split = leave_one_out(load_ml100k_mm(RankerPaths().data_dir))
    assert (split.num_items, len(split.user_ids)) == (1682, 943)
    assert len(split.test) == 943 and 0 < split.test.cold.sum() < 943
    first = split.test.target_times_ms.min()
    assert 874_000_000_000 < first < 894_000_000_000  # 1997-1998 in milliseconds
