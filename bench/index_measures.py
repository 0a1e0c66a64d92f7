"""Measurements of the machine and of the item index outside the servers: matmul peak, scoring GFLOP/s, recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.catalogue import bench_catalogue
from bench.timing import best_seconds
from ranker.index import IndexConfig, ItemIndex, SearchQuery
from recmodel.model.serving import ServingModel


def cpu_has_flag(flag: str) -> bool:
    """Whether /proc/cpuinfo lists ``flag`` (False where there is no /proc/cpuinfo)."""
    try:
        return flag in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best observed fp32 GFLOP/s of a square matmul (torch, all threads)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / best_seconds(lambda: a @ b, repeats) / 1e9


def scoring_gflops(n: int, dim: int, prefilter: str, batch: int = 64, repeats: int = 3) -> float:
    """Float32-equivalent GFLOP/s (2 x batch x n x dim per pass) of one exact scoring pass of `batch` users over
    `n` items in the ItemIndex, with the first pass `prefilter` ('int8', 'off', ...)."""
    rng = np.random.default_rng(0)
    index = ItemIndex.build([f"i{j}" for j in range(n)], rng.standard_normal((n, dim), dtype=np.float32),
                            IndexConfig(exact_max_items=n + 1, exact_prefilter=prefilter))  # fmt: skip
    users = rng.standard_normal((batch, dim), dtype=np.float32)
    queries = [SearchQuery(user=b, k=10) for b in range(batch)]
    return 2 * batch * n * dim / best_seconds(lambda: index.search(users, queries), repeats) / 1e9


def recall_at_10(model: ServingModel, n: int, config: IndexConfig, users: int = 64) -> float:
    """Recall@10 of an index configured by `config` against full float32 exact scoring, for real user vectors
    over `n` items (artifact items + synthetic variations of them, as served in the benchmark)."""
    data = bench_catalogue(model, n, users)
    queries = [SearchQuery(user=b, k=10) for b in range(users)]
    exact_config = IndexConfig(exact_max_items=n + 1, exact_prefilter="off")
    exact = ItemIndex.build(data.ids, data.vectors, exact_config).search(data.users, queries)
    approx = ItemIndex.build(data.ids, data.vectors, config).search(data.users, queries)
    return float(np.mean([len(set(a.item_ids) & set(e.item_ids)) / 10 for a, e in zip(approx, exact, strict=True)]))
