"""Reused scratch memory for the per-batch score matrices of exact scoring."""

from __future__ import annotations

import torch

GROWTH = 1.25  # headroom, so a catalogue growing item by item does not re-allocate on every search


class Scratch:
    """One flat buffer handing out contiguous (rows, cols) views of it.

    A batch's score matrix is tens of MB; allocating a fresh one per search lets the allocator hand the pages back
    to the OS and fault them in again each time, which measured up to 2x the cost of the matmul itself. A view is
    valid until the next :meth:`take`: callers serialise searches (the index lock) and copy what they keep.
    """

    def __init__(self, dtype: torch.dtype) -> None:
        self._flat = torch.empty(0, dtype=dtype)

    def take(self, rows: int, cols: int) -> torch.Tensor:
        """A (rows, cols) tensor over the buffer, its contents undefined."""
        need = rows * cols
        if need > self._flat.numel():
            self._flat = torch.empty(int(need * GROWTH), dtype=self._flat.dtype)
        return self._flat[:need].view(rows, cols)
