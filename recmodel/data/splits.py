"""Leave-one-out splits by time with a cold-start item hold-out.

Per user, events are ordered by timestamp with file order as the tie-break. The last event is the test
target, the second last the validation target, everything before is training data. A fraction of items is
*cold*: every interaction with them is withheld from training and from model inputs (histories: a cold item
inside a user's history is dropped, as a service that never saw the item's events would not have them), so
they appear only as evaluation targets. Test users whose target is cold form the cold test set.

Cold items are chosen in one of two ways (``cold_by``):

- ``random``: a random ``cold_fraction`` of the catalogue (seeded; the ALDI / CLCRec convention);
- ``time``: the ``cold_fraction`` of items whose first interaction is latest, i.e. the genuinely newest items
  (ties on the first-interaction time broken by item order; items without events count as newest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from recmodel.data.contract import Dataset, DatasetError


@dataclass(frozen=True)
class Sequence:
    """One user's events as catalogue indices, ordered by time."""

    items: np.ndarray  # (n,) int64
    times_ms: np.ndarray  # (n,) int64
    domains: np.ndarray  # (n,) int64 (all zero without domains)


@dataclass(frozen=True)
class EvalCases:
    """Next-item cases: each history (input) predicts one target at the target's time."""

    users: np.ndarray  # (C,) int64 user index
    histories: list[Sequence]
    targets: np.ndarray  # (C,) int64
    target_times_ms: np.ndarray  # (C,) int64
    target_domains: np.ndarray  # (C,) int64
    cold: np.ndarray  # (C,) bool, target is a cold item
    seen: list[np.ndarray]  # every item the user interacted with before the target (for history masking)

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, keep: np.ndarray) -> EvalCases:
        """Cases where ``keep`` (bool mask) is true."""
        idx = np.flatnonzero(keep)
        return EvalCases(
            users=self.users[idx],
            histories=[self.histories[i] for i in idx],
            targets=self.targets[idx],
            target_times_ms=self.target_times_ms[idx],
            target_domains=self.target_domains[idx],
            cold=self.cold[idx],
            seen=[self.seen[i] for i in idx],
        )


@dataclass(frozen=True)
class Split:
    """Training sequences and validation/test cases over one fixed item catalogue."""

    item_ids: list[str]
    user_ids: list[str]
    domain_names: list[str]
    train: list[Sequence]
    valid: EvalCases
    test: EvalCases
    cold_items: np.ndarray  # (N,) bool
    train_items: np.ndarray  # (N,) bool: item has at least one training interaction

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def train_counts(self) -> np.ndarray:
        """(N,) int64 training events per catalogue item (0 for cold items)."""
        counts = np.zeros(self.num_items, dtype=np.int64)
        for seq in self.train:
            np.add.at(counts, seq.items, 1)
        return counts


def user_sequences(dataset: Dataset) -> tuple[list[str], list[Sequence], list[str]]:
    """Group events by user, ordered by time with file order as tie-break."""
    ev = dataset.events
    index = {item: i for i, item in enumerate(dataset.items.item_ids)}
    items = np.fromiter((index[i] for i in ev.item_ids), dtype=np.int64, count=len(ev))
    domain_names = sorted(set(ev.domains.tolist())) if ev.domains is not None else ["default"]
    dom_index = {d: i for i, d in enumerate(domain_names)}
    domains = (
        np.fromiter((dom_index[d] for d in ev.domains), dtype=np.int64, count=len(ev))
        if ev.domains is not None
        else np.zeros(len(ev), dtype=np.int64)
    )
    users, user_codes = np.unique(ev.user_ids.astype(str), return_inverse=True)
    order = np.lexsort((np.arange(len(ev)), ev.timestamps_ms, user_codes))
    bounds = np.flatnonzero(np.diff(user_codes[order])) + 1
    seqs = [Sequence(items=items[o], times_ms=ev.timestamps_ms[o], domains=domains[o]) for o in np.split(order, bounds)]
    return users.tolist(), seqs, domain_names


def _drop(seq: Sequence, keep: np.ndarray) -> Sequence:
    return Sequence(items=seq.items[keep], times_ms=seq.times_ms[keep], domains=seq.domains[keep])


ColdBy = Literal["random", "time"]


def cold_items(dataset: Dataset, fraction: float, by: ColdBy = "random", seed: int = 0) -> np.ndarray:
    """(N,) bool mask of the ``fraction`` of catalogue items held out as cold (see the module docstring)."""
    if not 0.0 <= fraction < 1.0:
        raise DatasetError(f"cold_fraction: must be in [0, 1), got {fraction}")
    n_items = len(dataset.items)
    size = round(fraction * n_items)
    cold = np.zeros(n_items, dtype=bool)
    if by == "random":
        cold[np.random.default_rng(seed).choice(n_items, size=size, replace=False)] = True
    elif by == "time":
        index = {item: i for i, item in enumerate(dataset.items.item_ids)}
        items = np.fromiter((index[i] for i in dataset.events.item_ids), dtype=np.int64, count=len(dataset.events))
        first = np.full(n_items, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, items, dataset.events.timestamps_ms)
        newest_first = np.lexsort((-np.arange(n_items), -first))  # latest first event, later rows first on ties
        cold[newest_first[:size]] = True
    else:
        raise DatasetError(f"cold_by: expected 'random' or 'time', got {by!r}")
    return cold


def leave_one_out(
    dataset: Dataset, cold_fraction: float = 0.1, seed: int = 0, max_len: int = 50, cold_by: ColdBy = "random"
) -> Split:
    """Leave-one-out split by time with ``cold_fraction`` of items (chosen ``cold_by``) held out of training.

    Histories given to evaluation cases are truncated to the last ``max_len`` non-cold events.
    """
    if max_len < 1:
        raise DatasetError(f"max_len: must be >= 1, got {max_len}")
    cold = cold_items(dataset, cold_fraction, cold_by, seed)
    user_ids, seqs, domain_names = user_sequences(dataset)
    n_items = len(dataset.items)

    train: list[Sequence] = []
    cases: dict[str, list[tuple]] = {"valid": [], "test": []}
    for u, seq in enumerate(seqs):
        n = len(seq.items)
        if n < 3:
            train.append(_drop(seq, ~cold[seq.items]))
            continue
        prefix = Sequence(seq.items[: n - 2], seq.times_ms[: n - 2], seq.domains[: n - 2])
        train.append(_drop(prefix, ~cold[prefix.items]))
        for name, t in (("valid", n - 2), ("test", n - 1)):
            before = Sequence(seq.items[:t], seq.times_ms[:t], seq.domains[:t])
            hist = _drop(before, ~cold[before.items])
            if len(hist.items) == 0:
                continue
            hist = Sequence(hist.items[-max_len:], hist.times_ms[-max_len:], hist.domains[-max_len:])
            cases[name].append((u, hist, seq.items[t], seq.times_ms[t], seq.domains[t], before.items))

    train_items = np.zeros(n_items, dtype=bool)
    for s in train:
        train_items[s.items] = True
    return Split(
        item_ids=list(dataset.items.item_ids),
        user_ids=user_ids,
        domain_names=domain_names,
        train=train,
        valid=_cases(cases["valid"], cold),
        test=_cases(cases["test"], cold),
        cold_items=cold,
        train_items=train_items,
    )


def _cases(rows: list[tuple], cold: np.ndarray) -> EvalCases:
    targets = np.array([r[2] for r in rows], dtype=np.int64)
    return EvalCases(
        users=np.array([r[0] for r in rows], dtype=np.int64),
        histories=[r[1] for r in rows],
        targets=targets,
        target_times_ms=np.array([r[3] for r in rows], dtype=np.int64),
        target_domains=np.array([r[4] for r in rows], dtype=np.int64),
        cold=cold[targets] if len(targets) else np.zeros(0, dtype=bool),
        seen=[r[5] for r in rows],
    )


def training_windows(train: list[Sequence], max_len: int) -> list[Sequence]:
    """Cut training sequences into windows of ``max_len + 1`` events (inputs + shifted targets), from the end."""
    windows: list[Sequence] = []
    for seq in train:
        n = len(seq.items)
        end = n
        while end >= 2:
            start = max(0, end - (max_len + 1))
            windows.append(Sequence(seq.items[start:end], seq.times_ms[start:end], seq.domains[start:end]))
            end = start + 1 if start > 0 else 0
    return windows
