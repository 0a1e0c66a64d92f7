"""Turn sequences into right-padded tensors for training windows and evaluation cases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from recmodel.data.splits import EvalCases, Sequence
from recmodel.model.recommender import SequenceInputs, request_times


@dataclass
class Batch:
    """Padded inputs (B, L), per-position targets (training) or one target per row (evaluation)."""

    items: torch.Tensor  # (B, L) long, 0 at pads
    seq: SequenceInputs
    lengths: torch.Tensor  # (B,)
    targets: torch.Tensor  # (B, L) training next items (-1 at pads) or (B,) evaluation targets


def _pad(rows: list[np.ndarray], length: int, fill: int) -> np.ndarray:
    out = np.full((len(rows), length), fill, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def training_batch(windows: list[Sequence]) -> Batch:
    """Windows of n+1 events → inputs (first n) predicting the next event at every position."""
    length = max(len(w.items) for w in windows) - 1
    lengths = np.array([len(w.items) - 1 for w in windows], dtype=np.int64)
    items = _pad([w.items[:-1] for w in windows], length, 0)
    times = _pad([w.times_ms[:-1] for w in windows], length, 0)
    next_times = _pad([w.times_ms[1:] for w in windows], length, 0)
    domains = _pad([w.domains[:-1] for w in windows], length, 0)
    next_domains = _pad([w.domains[1:] for w in windows], length, 0)
    targets = _pad([w.items[1:] for w in windows], length, -1)
    mask = np.arange(length)[None, :] < lengths[:, None]
    times_t = torch.from_numpy(times)
    seq = SequenceInputs(
        times_ms=times_t,
        mask=torch.from_numpy(mask),
        request_ms=torch.from_numpy(np.where(mask, next_times, times)),
        domains=torch.from_numpy(domains),
        target_domains=torch.from_numpy(next_domains),
    )
    return Batch(torch.from_numpy(items), seq, torch.from_numpy(lengths), torch.from_numpy(targets))


def eval_batch(cases: EvalCases, rows: np.ndarray) -> Batch:
    """Histories of the selected cases, requested at their target's time and domain."""
    hists = [cases.histories[i] for i in rows]
    lengths = np.array([len(h.items) for h in hists], dtype=np.int64)
    length = int(lengths.max())
    times = torch.from_numpy(_pad([h.times_ms for h in hists], length, 0))
    lengths_t = torch.from_numpy(lengths)
    mask = torch.arange(length)[None, :] < lengths_t[:, None]
    target_domain = torch.from_numpy(cases.target_domains[rows]).unsqueeze(1).expand(-1, length)
    seq = SequenceInputs(
        times_ms=times,
        mask=mask,
        request_ms=request_times(times, lengths_t, torch.from_numpy(cases.target_times_ms[rows])),
        domains=torch.from_numpy(_pad([h.domains for h in hists], length, 0)),
        target_domains=target_domain.contiguous(),
    )
    items = torch.from_numpy(_pad([h.items for h in hists], length, 0))
    return Batch(items, seq, lengths_t, torch.from_numpy(cases.targets[rows]))
