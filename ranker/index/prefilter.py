"""First scoring passes over a compact copy of the item vectors; their shortlist is re-scored in float32.

Two copies: int8 (one scale per item and per user, an int8 x int8 -> int32 matmul through oneDNN: a quarter of the
memory traffic, 2.0-2.7x faster than float32 at 100k items on a CPU with VNNI int8 dot products, but 0.5-0.9x
as fast on AVX2 alone, measured with oneDNN limited to AVX2) and bfloat16 (half the memory traffic; only fast
on CPUs that multiply bfloat16 natively).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

from ranker.index.exact import TOPK_BLOCK, block_top_k, mask_scores, with_capacity
from ranker.index.scratch import Scratch

CPU_FLAGS_WITH_NATIVE_BF16 = ("avx512_bf16", "amx_bf16")
CPU_FLAGS_WITH_INT8_DOT = ("avx512_vnni", "avx_vnni", "amx_int8")
INT8_MAX = 127
# The shortlist's block-maxima top-k keeps size x block columns: blocks shrink on small catalogues, so that stays
# at most 1/8 of the columns.
SHORTLIST_BLOCKS_PER_CANDIDATE = 8
MIN_SHORTLIST_BLOCK = 8


@functools.cache
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags from ``cpuinfo`` (empty when unknown)."""
    try:
        flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        return frozenset()
    return frozenset(flags.partition(":")[2].split())


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); False when unknown."""
    return bool(cpu_flags(cpuinfo) & set(CPU_FLAGS_WITH_NATIVE_BF16))


def cpu_has_int8_dot(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX); False when unknown."""
    return bool(cpu_flags(cpuinfo) & set(CPU_FLAGS_WITH_INT8_DOT))


def prefilter_kind(mode: str) -> str | None:
    """The first pass exact scoring uses for ``mode``: 'bfloat16', 'int8' or None (float32 only).

    'auto' means int8 on CPUs with int8 dot products (VNNI) and float32 only elsewhere.
    """
    if mode in ("bfloat16", "int8"):
        return mode
    if mode == "auto" and cpu_has_int8_dot():
        return "int8"
    return None


class Prefilter(ABC):
    """A compact copy of an index's rows that proposes candidates for exact float32 re-scoring."""

    @abstractmethod
    def write(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Copy float32 ``vectors`` (n, dim) into ``rows`` (growing as needed)."""

    @abstractmethod
    def _approximate(self, users: torch.Tensor, rows: int) -> torch.Tensor:
        """(B, rows) approximate scores (a per-user positive scale may be left out), possibly scratch memory."""

    def shortlist(
        self,
        users: torch.Tensor,
        rows: int,
        invalid: torch.Tensor | None,
        excluded: list[list[int]],
        size: int,
        blocked: list[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """(B, size) candidate rows among the first ``rows`` per user, skipping ``invalid``, ``excluded`` and
        ``blocked`` rows.

        Skipped rows can still appear when fewer than ``size`` rows remain; callers re-check candidates.
        """
        return _masked_shortlist(self._approximate(users, rows), invalid, excluded, size, blocked)


def make_prefilter(mode: str, dim: int) -> Prefilter | None:
    """The first-pass copy for an index configured with ``exact_prefilter=mode`` (None: float32 only)."""
    kind = prefilter_kind(mode)
    if kind == "bfloat16":
        return Bf16Prefilter(dim)
    if kind == "int8":
        return Int8Prefilter(dim)
    return None


def _masked_shortlist(
    scores: torch.Tensor,
    invalid: torch.Tensor | None,
    excluded: list[list[int]],
    size: int,
    blocked: list[torch.Tensor | None] | None = None,
) -> torch.Tensor:
    """(B, size) columns of the best approximate ``scores``; ``invalid``, ``excluded`` and ``blocked`` at -inf."""
    mask_scores(scores, invalid, excluded, blocked)
    block = max(MIN_SHORTLIST_BLOCK, min(TOPK_BLOCK, scores.shape[1] // (SHORTLIST_BLOCKS_PER_CANDIDATE * size)))
    return block_top_k(scores, size, block)[1]


class Bf16Prefilter(Prefilter):
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
        self._rows = with_capacity(self._rows, int(rows.max()) + 1, axis=0)
        self._rows[torch.from_numpy(np.asarray(rows, dtype=np.int64))] = torch.from_numpy(vectors).to(torch.bfloat16)

    def _approximate(self, users: torch.Tensor, rows: int) -> torch.Tensor:
        return (users.to(torch.bfloat16) @ self._rows[:rows].T).float()


def quantize_rows(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 codes of each row of ``vectors`` (n, dim) and the row's scale (largest |value| / 127):
    ``codes * scale`` approximates the row to within scale / 2 per coordinate. All-zero rows get scale 0."""
    scales = vectors.abs().amax(dim=1) / INT8_MAX
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))
    codes = torch.round(vectors / safe.unsqueeze(1)).clamp_(-INT8_MAX, INT8_MAX).to(torch.int8)
    return codes, scales


class Int8Prefilter(Prefilter):
    """Item vectors as int8 rows (rows, dim) with one float scale per item.

    A batch is scored by quantising each user vector to int8 (its own scale, which does not change that user's
    ranking), one int8 x int8 -> int32 matmul over every item, and a multiply by the items' scales. The error of
    an approximate score is at most about |u|_1 * item_scale / 2 + |v|_1 * user_scale / 2, a fraction of a
    percent of the score range for the model's vectors, so the exact top-k falls within a shortlist of a few
    dozen candidates; those are re-scored exactly in float32 by the index.

    The codes are kept item-major (rows, dim) and multiplied as their transpose: for one user oneDNN then runs a
    matrix-vector product at memory speed (100k items x 193 columns, one thread: 0.6-1.1 ms, against 3.4-8 ms
    with the codes stored column-wise, the layout before); batches of 2-64 users cost about the same in either.
    """

    def __init__(self, dim: int) -> None:
        self._codes = torch.zeros((0, dim), dtype=torch.int8)
        self._scales = torch.zeros(0, dtype=torch.float32)
        self._products, self._scores = Scratch(torch.int32), Scratch(torch.float32)

    def write(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Quantise float32 ``vectors`` (n, dim) into ``rows`` (growing as needed)."""
        if len(rows) == 0:
            return
        needed = int(rows.max()) + 1
        self._codes, self._scales = with_capacity(self._codes, needed, axis=0), with_capacity(self._scales, needed)
        codes, scales = quantize_rows(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)))
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        self._codes[index] = codes
        self._scales[index] = scales

    def scores(self, users: torch.Tensor, rows: int) -> torch.Tensor:
        """(B, rows) approximate inner products of ``users`` (B, dim) float32 with the first ``rows`` items."""
        codes, user_scales = quantize_rows(users)
        return self._ranking_scores(codes, rows).mul(user_scales.unsqueeze(1))

    def _ranking_scores(self, codes: torch.Tensor, rows: int) -> torch.Tensor:
        """The approximate inner products divided by each user's scale, which leaves every user's order intact.

        A view of scratch memory, valid until the next call.
        """
        batch = codes.shape[0]
        products = torch._int_mm(codes, self._codes[:rows].T, out=self._products.take(batch, rows))
        return torch.mul(products, self._scales[:rows], out=self._scores.take(batch, rows))

    def _approximate(self, users: torch.Tensor, rows: int) -> torch.Tensor:
        return self._ranking_scores(quantize_rows(users)[0], rows)
