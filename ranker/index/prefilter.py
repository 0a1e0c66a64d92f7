"""A bfloat16 copy of the item vectors: a fast first scoring pass whose shortlist is re-scored in float32."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

CPU_FLAGS_WITH_NATIVE_BF16 = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); False when unknown."""
    try:
        flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in CPU_FLAGS_WITH_NATIVE_BF16)


def prefilter_enabled(mode: str) -> bool:
    """Whether exact scoring uses the bfloat16 first pass: 'bfloat16' always, 'auto' on native-bf16 CPUs."""
    return mode == "bfloat16" or (mode == "auto" and cpu_has_native_bf16())


class Bf16Prefilter:
    """Rows of a VectorTable in bfloat16 (half the memory traffic; native on CPUs with AVX512-BF16 or AMX).

    Scores from it only choose a shortlist per query; the shortlist is re-scored exactly in float32, so the
    returned scores are exact and the ranking differs from full float32 scoring only when a true top-k item
    falls outside the bfloat16 shortlist.
    """

    def __init__(self, dim: int) -> None:
        self._rows = torch.zeros((0, dim), dtype=torch.bfloat16)

    def write(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Copy float32 ``vectors`` into ``rows`` (growing as needed)."""
        if len(rows) == 0:
            return
        needed = int(rows.max()) + 1
        if needed > len(self._rows):
            grown = torch.zeros((max(needed, 2 * len(self._rows)), self._rows.shape[1]), dtype=torch.bfloat16)
            grown[: len(self._rows)] = self._rows
            self._rows = grown
        self._rows[torch.from_numpy(np.asarray(rows, dtype=np.int64))] = torch.from_numpy(vectors).to(torch.bfloat16)

    def shortlist(
        self, users: torch.Tensor, rows: int, invalid: torch.Tensor | None, excluded: list[list[int]], size: int
    ) -> torch.Tensor:
        """(B, size) candidate rows among the first ``rows`` per user, skipping ``invalid`` and ``excluded`` rows.

        Skipped rows can still appear when fewer than ``size`` rows remain; callers re-check candidates.
        """
        scores = users.to(torch.bfloat16) @ self._rows[:rows].T
        if invalid is not None:
            scores[:, invalid] = -torch.inf
        for b, rows_of_user in enumerate(excluded):
            if rows_of_user:
                scores[b, rows_of_user] = -torch.inf
        return torch.topk(scores, size, dim=1, sorted=False).indices
