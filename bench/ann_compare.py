"""ANN methods for the ranker's large-catalogue index, side by side: recall@10 vs exact, search ms, build s, memory.

    .venv/bin/python -m bench.ann_compare [--artifact DIR] [--items 1000000] [--threads 1]
                                          [--methods ivf_ip,ivf_l2,hnsw] [--out reports/bench/ann.json]

Data as in bench/index_measures.py's recall_at_10 (bench/catalogue.py): the artifact's real item vectors plus
synthetic variations of them up to `--items`, and real user vectors (64 users, 50 random real items each).
Every method's shortlist is re-scored exactly in float32 (as ItemIndex does), so recall@10 is the share of the
exact top-10 that comes back. search ms: best of 3 for one batch of `--users` queries (ANN search + re-scoring)
on `--threads` threads; build s: train + add on all cores; memory: the serialised FAISS index. The `default` row
is ItemIndex itself with IndexConfig(exact_max_items=0), as bench/ranker_bench.py measures it. The machine may be
shared: the 1-minute load average at start and end is recorded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import torch

from bench.catalogue import bench_catalogue
from bench.timing import best_seconds
from ranker.index import IndexConfig, ItemIndex, SearchQuery
from ranker.index.ann import reduce_items, reduce_queries, squared_norms
from ranker.service.model import load_model

REPO_ROOT = Path(__file__).resolve().parents[1]
Search = Callable[[np.ndarray], np.ndarray]  # (B, dim) users -> (B, 10) top rows


def rescored(vectors: np.ndarray, users: np.ndarray, labels: np.ndarray, k: int = 10) -> np.ndarray:
    """(B, k) rows: the shortlist ``labels`` (-1 = none) re-scored exactly, best k kept."""
    rows = np.where(labels >= 0, labels, 0)
    scores = np.einsum("bsd,bd->bs", vectors[rows], users)
    scores[labels < 0] = -np.inf
    return np.take_along_axis(rows, np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1)


def faiss_search(index: faiss.Index, vectors: np.ndarray, shortlist: int, reduce: bool) -> Search:
    def search(users: np.ndarray) -> np.ndarray:
        _, labels = index.search(reduce_queries(users) if reduce else users, shortlist)
        return rescored(vectors, users, labels)

    return search


def max_norm(vectors: np.ndarray) -> float:
    """The reduction's bound for the raw FAISS indexes: the largest item norm."""
    return math.sqrt(float(squared_norms(vectors).max()))


def ivf(vectors: np.ndarray, nlist: int, l2: bool, sample: int, seed: int = 0) -> faiss.IndexIVFFlat:
    """Raw FAISS IVF-flat: inner product on the vectors, or L2 on their MIPS->L2 reduction (bound = max norm)."""
    data = reduce_items(vectors, max_norm(vectors)) if l2 else vectors
    dim = data.shape[1]
    index = faiss.index_factory(dim, f"IVF{nlist},Flat", faiss.METRIC_L2 if l2 else faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(data[np.random.default_rng(seed).choice(len(data), min(sample, len(data)), replace=False)])
    index.add(data)
    return index


def hnsw(vectors: np.ndarray, m: int, l2: bool) -> faiss.IndexHNSWFlat:
    """FAISS HNSW: inner product on the vectors, or L2 on their MIPS->L2 reduction."""
    data = reduce_items(vectors, max_norm(vectors)) if l2 else vectors
    index = faiss.IndexHNSWFlat(data.shape[1], m, faiss.METRIC_L2 if l2 else faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 64
    index.add(data)
    return index


def megabytes(index: faiss.Index) -> float:
    return len(faiss.serialize_index(index)) / 2**20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", type=Path, default=REPO_ROOT / "artifacts" / "ml100k-full")
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--users", type=int, default=64, help="users, i.e. queries per search batch")
    p.add_argument("--threads", type=int, default=1, help="search threads (FAISS OpenMP and torch)")
    p.add_argument("--methods", default="ivf_ip,ivf_l2,hnsw", help="comma-separated subset of ivf_ip,ivf_l2,hnsw")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench" / "ann.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    methods = set(args.methods.split(","))
    results: dict[str, float] = {"items": args.items, "users": args.users, "search_threads": args.threads}
    results["load_average_1m_at_start"] = os.getloadavg()[0]
    data = bench_catalogue(load_model(args.artifact), args.items, args.users)
    vectors, users = data.vectors, data.users
    exact = torch.topk(torch.from_numpy(users) @ torch.from_numpy(vectors).T, 10, dim=1).indices.numpy()
    root, sample, cores = int(math.sqrt(args.items)), IndexConfig().ann_train_sample, os.cpu_count() or 1
    rows: list[tuple[str, str, float, float, float, float]] = []

    def measure(key: str, method: str, params: str, search: Search, build_s: float, memory_mb: float) -> None:
        faiss.omp_set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
        top = search(users)
        recall = float(np.mean([len(set(t) & set(e)) / 10 for t, e in zip(top, exact, strict=True)]))
        ms = best_seconds(lambda: search(users)) * 1000
        rows.append((method, params, recall, ms, build_s, memory_mb))
        results.update({f"{key}_recall_at_10": recall, f"{key}_search_ms": ms, f"{key}_build_s": build_s,
                        f"{key}_memory_mb": memory_mb})  # fmt: skip
        print(f"{method:<30} {params:<36} {recall:>6.3f} {ms:>8.1f} {build_s:>7.1f} {memory_mb:>7.0f}", flush=True)

    def built(make: Callable[[], faiss.Index]) -> tuple[faiss.Index, float]:
        faiss.omp_set_num_threads(cores)
        torch.set_num_threads(cores)
        start = time.perf_counter()
        index = make()
        return index, time.perf_counter() - start

    print(f"{'method':<30} {'params':<36} {'R@10':>6} {'ms/' + str(args.users) + 'q':>8} {'build s':>7} {'MB':>7}")
    if "ivf_ip" in methods:  # candidate 3: the previous index (inner-product IVF), retuned
        for nlist, probes in ((root, (32, 128)), (min(4 * root, sample // 39), (32, 128))):
            index, build_s = built(lambda nlist=nlist: ivf(vectors, nlist, l2=False, sample=sample))
            for nprobe in probes:
                index.nprobe = nprobe
                params = f"nlist={nlist} nprobe={nprobe}"
                measure(f"ivf_ip_nlist{nlist}_nprobe{nprobe}", "IVF-flat inner product", params,
                        faiss_search(index, vectors, 512, reduce=False), build_s, megabytes(index))  # fmt: skip
            del index
    if "ivf_l2" in methods:  # candidate 1: MIPS->L2 reduction + L2 IVF; the default is ItemIndex itself
        config = IndexConfig(exact_max_items=0)
        item_index, build_s = built(lambda: ItemIndex.build(data.ids, vectors, config))
        ann = item_index._ann.index
        queries = [SearchQuery(user=b, k=10) for b in range(args.users)]
        row_of = item_index.row_of

        def default_search(u: np.ndarray) -> np.ndarray:
            return np.array([[row_of[i] for i in r.item_ids] for r in item_index.search(u, queries)])

        for nprobe in sorted({8, 16, config.ann_nprobe}):
            ann.nprobe = nprobe
            name = "ItemIndex default" if nprobe == config.ann_nprobe else "IVF-flat MIPS->L2 (ItemIndex)"
            measure(f"ivf_l2_nlist{ann.nlist}_nprobe{nprobe}", name,
                    f"nlist={ann.nlist} nprobe={nprobe} shortlist={config.ann_shortlist}", default_search, build_s,
                    megabytes(ann))  # fmt: skip
        del item_index, ann
        index, build_s = built(lambda: ivf(vectors, root, l2=True, sample=sample))
        for nprobe in (32, 128):
            index.nprobe = nprobe
            measure(f"ivf_l2_nlist{root}_nprobe{nprobe}", "IVF-flat MIPS->L2", f"nlist={root} nprobe={nprobe}",
                    faiss_search(index, vectors, 512, reduce=True), build_s, megabytes(index))  # fmt: skip
        del index
    if "hnsw" in methods:  # candidate 2: HNSW, on inner product and on the MIPS->L2 reduction
        for l2 in (False, True):
            index, build_s = built(lambda l2=l2: hnsw(vectors, 32, l2))
            for ef in (64, 256):
                index.hnsw.efSearch = ef
                method = "HNSW-flat " + ("MIPS->L2" if l2 else "inner product")
                measure(f"hnsw_{'l2' if l2 else 'ip'}_m32_ef{ef}", method, f"M=32 efC=64 efSearch={ef}",
                        faiss_search(index, vectors, ef, reduce=l2), build_s, megabytes(index))  # fmt: skip
            del index
    results["load_average_1m_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
