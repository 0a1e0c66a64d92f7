"""FAISS inverted-file shortlist over inner product, keyed by vector-table row."""

from __future__ import annotations

import math

import faiss
import numpy as np

from ranker.index.config import IndexConfig


class IvfShortlist:
    """IVF index (flat or 8-bit scalar-quantised) whose labels are vector-table rows; supports add/remove."""

    def __init__(self, config: IndexConfig, dim: int) -> None:
        self.config = config
        self.dim = dim
        self.index: faiss.IndexIVF | None = None

    @property
    def trained(self) -> bool:
        return self.index is not None

    def train_and_add(self, vectors: np.ndarray, valid: np.ndarray, seed: int = 0) -> None:
        """Train the coarse quantiser on a sample of the live rows and add every live row."""
        live = np.flatnonzero(valid)
        if len(live) == 0:
            raise ValueError("vectors: cannot train an ANN index on an empty catalogue")
        nlist = self.config.ann_nlist or max(1, int(math.sqrt(len(live))))
        nlist = min(nlist, max(1, len(live) // 39))
        quantizer = faiss.IndexFlatIP(self.dim)
        if self.config.ann_kind == "ivf_sq8":
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
        else:
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        rng = np.random.default_rng(seed)
        sample = live if len(live) <= self.config.ann_train_sample else rng.choice(live, self.config.ann_train_sample)
        index.train(np.ascontiguousarray(vectors[sample]))
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        index.nprobe = min(self.config.ann_nprobe, nlist)
        index.add_with_ids(np.ascontiguousarray(vectors[live]), live.astype(np.int64))
        self._quantizer = quantizer  # the IVF index does not own it: keep it alive
        self.index = index

    def add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or, for rows already present, replace) the given rows."""
        if self.index is None or len(rows) == 0:
            return
        self.remove(rows)
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), rows.astype(np.int64))

    def remove(self, rows: np.ndarray) -> None:
        if self.index is None or len(rows) == 0:
            return
        ids = np.ascontiguousarray(rows, dtype=np.int64)
        self.index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))

    def search(self, queries: np.ndarray, shortlist: int) -> np.ndarray:
        """(B, shortlist) candidate rows per query (-1 where fewer exist)."""
        assert self.index is not None
        _, labels = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), shortlist)
        return labels
