"""Time ablations: gaps shuffled within users at data preparation, intervals and calendar phases switched off."""

from __future__ import annotations

import numpy as np
import torch

from recmodel.data.contract import Dataset, Events, Items
from recmodel.data.splits import leave_one_out
from recmodel.data.time_ablation import shuffle_gaps_within_users
from recmodel.model.config import ModelConfig
from recmodel.model.recommender import Recommender, SequenceInputs
from recmodel.training.experiment import with_max_len


def _dataset() -> Dataset:
    rng = np.random.default_rng(0)
    users, items, times = [], [], []
    for u in range(6):
        t = 1_000_000 * (u + 1)
        for _ in range(12):
            t += int(rng.choice([0, 1_000, 60_000, 86_400_000]))
            users.append(f"u{u}")
            items.append(f"i{rng.integers(0, 20)}")
            times.append(t)
    order = rng.permutation(len(users))  # file order is not time order
    ev = Events(
        user_ids=np.array(users, dtype=object)[order],
        item_ids=np.array(items, dtype=object)[order],
        timestamps_ms=np.array(times, dtype=np.int64)[order],
    )
    return Dataset("toy", ev, Items([f"i{i}" for i in range(20)]))


def test_shuffled_gaps_keep_each_users_order_start_and_gaps() -> None:
    dataset = _dataset()
    shuffled = shuffle_gaps_within_users(dataset, seed=3)
    before, after = leave_one_out(dataset, 0.0, 0, 50), leave_one_out(shuffled, 0.0, 0, 50)
    changed = 0
    for a, b in zip(before.train, after.train, strict=True):
        np.testing.assert_array_equal(a.items, b.items)  # the order of events is kept
        assert a.times_ms[0] == b.times_ms[0] and np.all(np.diff(b.times_ms) >= 0)
    for a, b in zip(before.test.histories, after.test.histories, strict=True):
        np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_array_equal(before.test.targets, after.test.targets)
    for u in range(6):  # per user: the same multiset of gaps over the whole sequence, in another order
        t0 = np.sort(dataset.events.timestamps_ms[dataset.events.user_ids == f"u{u}"])
        t1 = shuffled.events.timestamps_ms[shuffled.events.user_ids == f"u{u}"]
        np.testing.assert_array_equal(np.sort(np.diff(t0)), np.sort(np.diff(t1)))
        assert t1[-1] == t0[-1]
        changed += int(not np.array_equal(np.diff(t0), np.diff(t1)))
    assert changed >= 4
    again = shuffle_gaps_within_users(dataset, seed=3)
    np.testing.assert_array_equal(again.events.timestamps_ms, shuffled.events.timestamps_ms)


def test_with_max_len_matches_a_split_built_with_that_max_len() -> None:
    dataset = _dataset()
    long, short = leave_one_out(dataset, 0.1, 0, 11), leave_one_out(dataset, 0.1, 0, 4)
    cut = with_max_len(long, 4)
    for a, b in zip(
        cut.test.histories + cut.valid.histories, short.test.histories + short.valid.histories, strict=True
    ):
        np.testing.assert_array_equal(a.items, b.items)
        np.testing.assert_array_equal(a.times_ms, b.times_ms)
    assert with_max_len(long, 11) is long


def _seq(times: list[list[int]]) -> SequenceInputs:
    t = torch.tensor(times, dtype=torch.long)
    mask = torch.ones_like(t, dtype=torch.bool)
    return SequenceInputs(times_ms=t, mask=mask, request_ms=t)


def test_time_switches_make_the_router_input_blind_to_that_part_of_time() -> None:
    a = _seq([[0, 1_000, 90_000_000, 90_001_000]])
    b = _seq([[5_000_000_000, 5_000_000_000, 5_000_060_000, 6_000_000_000]])  # other gaps, other calendar
    torch.manual_seed(0)
    full = Recommender(ModelConfig(dim=8, modalities=["text"], text_dim=4))
    features = full.time_features(a), full.time_features(b)
    assert not torch.allclose(features[0][..., :8], features[1][..., :8])  # interval half
    assert not torch.allclose(features[0][..., 8:], features[1][..., 8:])  # calendar half
    for flag, half in (("time_intervals", slice(0, 8)), ("time_absolute", slice(8, 16))):
        torch.manual_seed(0)
        model = Recommender(ModelConfig(dim=8, modalities=["text"], text_dim=4, **{flag: False}))
        fa, fb = model.time_features(a), model.time_features(b)
        torch.testing.assert_close(fa[..., half], fb[..., half])
        other = slice(8, 16) if half.start == 0 else slice(0, 8)
        assert not torch.allclose(fa[..., other], fb[..., other])
