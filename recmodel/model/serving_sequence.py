"""The sequence inputs a serving call builds from history times: the most recent ``max_len`` positions, their
times, mask, request times and domains (shared by the user vectors and the repeat bias of one batch)."""

from __future__ import annotations

import numpy as np
import torch

from recmodel.model.recommender import SequenceInputs, request_times


def recent_positions(lengths: np.ndarray, length: int, max_len: int) -> torch.Tensor:
    """(B, min(L, max_len)) positions of each row's most recent events, left-aligned."""
    width = min(length, max_len)
    start = np.maximum(lengths - max_len, 0)
    pos = start[:, None] + np.arange(width)[None, :]
    return torch.from_numpy(np.minimum(pos, length - 1))


def sequence_inputs(
    times: np.ndarray,
    lengths: np.ndarray,
    request: np.ndarray,
    domains: np.ndarray | None,
    target_domain: np.ndarray | None,
    max_len: int,
    domain_count: int,
) -> tuple[SequenceInputs, torch.Tensor, torch.Tensor]:
    """(sequence inputs of the kept positions, kept positions (B, W), lengths capped at ``max_len``) of checked
    times (B, L), lengths (B,) and request times (B,); ValueError naming ``domains`` / ``target_domain``."""
    b, length = times.shape
    dom = np.zeros((b, length), dtype=np.int64) if domains is None else np.asarray(domains, dtype=np.int64)
    tgt = np.zeros(b, dtype=np.int64) if target_domain is None else np.asarray(target_domain, dtype=np.int64)
    for name, arr, shape in (("domains", dom, (b, length)), ("target_domain", tgt, (b,))):
        if arr.shape != shape or (arr < 0).any() or (arr >= domain_count).any():
            raise ValueError(f"{name}: expected shape {shape} with indices < {domain_count}")
    keep = recent_positions(lengths, length, max_len)
    lengths_t = torch.from_numpy(np.minimum(lengths, max_len))
    times_t = torch.from_numpy(times.astype(np.int64)).gather(1, keep)
    mask = torch.arange(keep.shape[1])[None, :] < lengths_t[:, None]
    seq = SequenceInputs(
        times_ms=times_t,
        mask=mask,
        request_ms=request_times(times_t, lengths_t, torch.from_numpy(request.astype(np.int64))),
        domains=torch.from_numpy(dom).gather(1, keep),
        target_domains=torch.from_numpy(tgt).unsqueeze(1).expand(-1, keep.shape[1]).contiguous(),
    )
    return seq, keep, lengths_t
