"""Time ablation at data preparation: each user's gaps between consecutive events shuffled, order kept.

Every user keeps the order of their events (so the split, its targets and its test users are unchanged) and the
first event's time; the gaps between consecutive events are permuted at random within the user, so the
multiset of a user's gaps, their span and the calendar range survive, but which interval sits before which
item, and every event's calendar phase, is noise. Applied before splitting, so training and test inputs (and
each test request's time) come from the same shuffled timeline.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recmodel.data.contract import Dataset


def shuffle_gaps_within_users(dataset: Dataset, seed: int = 0) -> Dataset:
    """``dataset`` with each user's inter-event gaps permuted (seeded); rows reordered by (user, time, file)."""
    ev = dataset.events
    if len(ev) == 0:
        return dataset
    _, codes = np.unique(ev.user_ids.astype(str), return_inverse=True)
    order = np.lexsort((np.arange(len(ev)), ev.timestamps_ms, codes))
    times = ev.timestamps_ms[order]
    users = codes[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(order)]
    rng = np.random.default_rng(seed)
    new_times = np.empty_like(times)
    for a, b in zip(starts, ends, strict=True):
        gaps = np.diff(times[a:b])
        new_times[a:b] = times[a] + np.r_[0, np.cumsum(rng.permutation(gaps))]
    events = dataclasses.replace(
        ev,
        user_ids=ev.user_ids[order],
        item_ids=ev.item_ids[order],
        timestamps_ms=new_times.astype(np.int64),
        domains=None if ev.domains is None else ev.domains[order],
        event_types=None if ev.event_types is None else ev.event_types[order],
    )
    return dataclasses.replace(dataset, events=events)
