"""Exact scoring: item vectors kept column-wise for the batch matmul, and an exact top-k by block maxima."""

from __future__ import annotations

import numpy as np
import torch

TOPK_BLOCK = 128  # items per block of the block-maxima top-k
MIN_CAPACITY = 1024


def with_capacity(tensor: torch.Tensor, needed: int, axis: int = -1) -> torch.Tensor:
    """``tensor`` itself when its ``axis`` holds ``needed`` entries, else a copy grown (zero-filled) along it to at
    least twice its size: amortised O(1) appends of item rows or columns."""
    capacity = tensor.shape[axis]
    if needed <= capacity:
        return tensor
    shape = list(tensor.shape)
    shape[axis] = max(needed, 2 * capacity, MIN_CAPACITY)
    grown = torch.zeros(shape, dtype=tensor.dtype)
    grown.narrow(axis, 0, capacity).copy_(tensor)
    return grown


def block_top_k(scores: torch.Tensor, k: int, block: int = TOPK_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` (values, column indices) per row of ``scores`` (B, n), unsorted, exactly as ``torch.topk``.

    The k best items lie in the k blocks with the highest maxima (any item outside them is beaten by the maxima
    of k blocks), so one max-reduction over all scores and a top-k over k·block candidates replace a top-k over
    all n columns, which on CPUs costs about as much as the scoring matmul itself.
    """
    b, n = scores.shape
    k = min(k, n)
    full = n // block
    if full <= k:
        return torch.topk(scores, k, dim=1, sorted=False)
    maxima = scores[:, : full * block].reshape(b, full, block).amax(dim=2)
    if n > full * block:
        maxima = torch.cat([maxima, scores[:, full * block :].amax(dim=1, keepdim=True)], dim=1)
    blocks = torch.topk(maxima, k, dim=1, sorted=False).indices  # (B, k)
    columns = (blocks.unsqueeze(-1) * block + torch.arange(block)).reshape(b, -1)
    in_range = columns < n  # the last, partial block has fewer columns
    candidates = scores.gather(1, columns.clamp(max=n - 1)).masked_fill(~in_range, float("-inf"))
    values, positions = torch.topk(candidates, k, dim=1, sorted=False)
    return values, columns.gather(1, positions)


def flat_positions(rows_per_row: list[list[int]], width: int) -> torch.Tensor | None:
    """Positions in a flattened (B, ``width``) matrix of each row b's columns ``rows_per_row[b]``; None if none."""
    parts = [np.asarray(rows, dtype=np.int64) + b * width for b, rows in enumerate(rows_per_row) if rows]
    return torch.from_numpy(np.concatenate(parts)) if parts else None


def mask_scores(
    scores: torch.Tensor,
    invalid: torch.Tensor | None,
    excluded: list[list[int]],
    blocked: list[torch.Tensor | None] | None = None,
) -> None:
    """Set to -inf, in place, the ``invalid`` columns of every row of ``scores`` (B, n), each row's ``excluded``
    columns and the columns its ``blocked`` (n,) bool mask marks (a filter's ineligible items)."""
    if invalid is not None:
        scores[:, invalid] = -torch.inf
    width = scores.shape[1]
    flat = flat_positions(excluded, width)
    if flat is not None:  # one scatter for the whole batch (a per-row loop cost 4x as much at 15 users)
        if scores.is_contiguous():
            scores.view(-1)[flat] = -torch.inf
        else:
            scores[flat // width, flat % width] = -torch.inf
    for b, mask in enumerate(blocked or ()):
        if mask is not None:
            scores[b].masked_fill_(mask, -torch.inf)


class ColumnScorer:
    """A (dim, rows) float32 copy of the item vectors: ``users @ columns`` is the fastest layout for a batch of
    a few dozen users against many items. Measured against the row-major table, one thread, batches of 16-64 users
    over 100k items: 1.4-2.0x faster on an AVX-512 VM, 1.06-1.35x on an AVX2-only VM."""

    def __init__(self, dim: int) -> None:
        self._columns = torch.zeros((dim, 0), dtype=torch.float32)

    def write(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Copy float32 ``vectors`` (n, dim) into columns ``rows`` (growing as needed)."""
        if len(rows) == 0:
            return
        self._columns = with_capacity(self._columns, int(rows.max()) + 1)
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        self._columns[:, index] = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).T

    def top_k(
        self,
        users: torch.Tensor,
        rows: int,
        invalid: torch.Tensor | None,
        excluded: list[list[int]],
        k: int,
        blocked: list[torch.Tensor | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, k) exact float32 (scores, rows) over the first ``rows`` rows; ``invalid`` rows, each user's
        ``excluded`` rows and the rows its ``blocked`` mask (rows,) marks score -inf (callers drop non-finite
        scores when fewer than k rows remain)."""
        scores = users @ self._columns[:, :rows]  # (B, rows): the one scoring matmul of the batch
        mask_scores(scores, invalid, excluded, blocked)
        return block_top_k(scores, k)
