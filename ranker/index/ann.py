"""FAISS inverted-file shortlist for maximum inner product (via the MIPS -> L2 reduction), keyed by table row.

Item vectors are unnormalised (popular items have larger norms), and an inner-product coarse quantiser handles
that badly: large-norm centroids win every query, and recall@10 at 1M items stays near 0.5-0.8 even at high
nprobe. The reduction of Bachrach et al. (2014) indexes each item x as [x, sqrt(M^2 - |x|^2)] and each query q
as [q, 0], so |q' - x'|^2 = |q|^2 + M^2 - 2 q.x: the L2-nearest items are exactly the top inner-product items,
and a plain L2 IVF partitions them well (bench/ann_compare.py measures it against the alternatives).
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from ranker.index.config import IndexConfig

ADD_CHUNK = 65_536  # rows reduced and added per step (bounds the transient copy at build)


def squared_norms(vectors: np.ndarray) -> np.ndarray:
    """|x|^2 per row, accumulated in float64."""
    return np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)


def reduce_items(vectors: np.ndarray, bound: float) -> np.ndarray:
    """(n, dim + 1) items for the L2 index: [x, sqrt(bound^2 - |x|^2)]; every |x| must be at most ``bound``."""
    vectors = np.asarray(vectors, dtype=np.float32)
    extra = np.sqrt(np.maximum(bound * bound - squared_norms(vectors), 0.0)).astype(np.float32)
    return np.ascontiguousarray(np.hstack([vectors, extra[:, None]]))


def reduce_queries(queries: np.ndarray) -> np.ndarray:
    """(B, dim + 1) queries for the L2 index: [q, 0]."""
    queries = np.asarray(queries, dtype=np.float32)
    return np.ascontiguousarray(np.hstack([queries, np.zeros((len(queries), 1), np.float32)]))


def default_nlist(live: int) -> int:
    """IVF lists for ``live`` items: 4 x sqrt(N), FAISS's usual lower end (finer lists than sqrt(N) recall
    more per vector scanned); the caller caps it at one list per 39 training vectors."""
    return max(1, 4 * int(math.sqrt(live)))


def norm_bound(squared: np.ndarray, headroom: float, outliers: int) -> float:
    """The reduction's bound M: ``headroom`` x the largest norm, ignoring the ``outliers`` longest vectors (a few
    extreme norms would otherwise stretch M, and a large M flattens the reduced space and costs recall)."""
    rank = min(outliers, len(squared) - 1)
    reference = math.sqrt(float(np.partition(squared, len(squared) - 1 - rank)[len(squared) - 1 - rank]))
    return (reference or 1.0) * headroom


class IvfShortlist:
    """L2 IVF index (flat or 8-bit scalar-quantised) over the MIPS -> L2 reduced vectors; labels are vector-table
    rows; supports add/remove in place.

    The norm bound M is ``ann_norm_headroom`` x the largest norm when trained (see :func:`norm_bound`). Rows
    with a larger norm (upserted later, or a few outliers at training) cannot be reduced: they are kept aside and
    returned as candidates of every query (so still found, and re-scored exactly like the rest) until more than
    ``ann_overflow_max`` of them ask for a retrain.
    """

    def __init__(self, config: IndexConfig, dim: int) -> None:
        self.config = config
        self.dim = dim
        self.index: faiss.IndexIVF | None = None
        self.bound = 0.0
        self._overflow: set[int] = set()

    @property
    def trained(self) -> bool:
        return self.index is not None

    @property
    def overflow_rows(self) -> int:
        """Rows held outside the IVF (norm above the bound), scored with every query."""
        return len(self._overflow)

    @property
    def needs_retrain(self) -> bool:
        """Too many rows above the norm bound: retrain (new bound) to keep their per-query cost bounded."""
        return len(self._overflow) > self.config.ann_overflow_max

    def train_and_add(self, vectors: np.ndarray, valid: np.ndarray, seed: int = 0) -> None:
        """Set the norm bound, train the coarse quantiser on a sample of the live rows and add every live row."""
        live = np.flatnonzero(valid)
        if len(live) == 0:
            raise ValueError("vectors: cannot train an ANN index on an empty catalogue")
        batches = [live[start : start + ADD_CHUNK] for start in range(0, len(live), ADD_CHUNK)]
        squared = np.concatenate([squared_norms(vectors[rows]) for rows in batches])
        self.bound = norm_bound(squared, self.config.ann_norm_headroom, self.config.ann_overflow_max // 4)
        size = min(len(live), self.config.ann_train_sample)
        nlist = min(self.config.ann_nlist or default_nlist(len(live)), max(1, size // 39))
        dim = self.dim + 1
        quantizer = faiss.IndexFlatL2(dim)
        index: faiss.IndexIVF
        if self.config.ann_kind == "ivf_sq8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit)
        else:
            index = faiss.IndexIVFFlat(quantizer, dim, nlist)
        index.cp.seed = seed
        rng = np.random.default_rng(seed)
        sample = live if size == len(live) else np.sort(rng.choice(live, size, replace=False))
        index.train(reduce_items(vectors[sample], self.bound))
        # faiss's bundled stubs omit the DirectMap class (it exists at runtime: faiss.DirectMap.Hashtable == 2).
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        index.nprobe = min(self.config.ann_nprobe, nlist)
        self._quantizer = quantizer  # the IVF index does not own it: keep it alive
        self.index = index
        self._overflow.clear()
        for rows in batches:
            self._add_reduced(rows, vectors[rows])

    def add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or, for rows already present, replace) the given rows."""
        if self.index is None or len(rows) == 0:
            return
        self.remove(rows)
        self._add_reduced(rows, np.asarray(vectors, dtype=np.float32))

    def _add_reduced(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Rows within the norm bound go to the IVF (reduced), the others to the overflow set."""
        assert self.index is not None
        above = squared_norms(vectors) > self.bound * self.bound
        self._overflow.update(int(r) for r in rows[above])
        if not above.all():
            inside = ~above
            self.index.add_with_ids(reduce_items(vectors[inside], self.bound), rows[inside].astype(np.int64))

    def remove(self, rows: np.ndarray) -> None:
        if self.index is None or len(rows) == 0:
            return
        ids = np.ascontiguousarray(rows, dtype=np.int64)
        self.index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))
        self._overflow.difference_update(int(r) for r in ids)

    def search(self, queries: np.ndarray, shortlist: int) -> np.ndarray:
        """(B, shortlist + overflow rows) candidate rows per query (-1 where fewer exist)."""
        assert self.index is not None
        _, labels = self.index.search(reduce_queries(queries), shortlist)
        if not self._overflow:
            return labels
        extra = np.fromiter(self._overflow, dtype=np.int64, count=len(self._overflow))
        return np.hstack([labels, np.broadcast_to(extra, (len(labels), len(extra)))])
