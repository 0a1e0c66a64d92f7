"""The ranker's view of a model artifact: recmodel.model.serving.ServingModel behind numpy-in, numpy-out calls."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ranker.catalog.feature_table import FeatureTable
from ranker.service.history import HistoryBatch
from recmodel.model.serving import ServingModel


def artifact_fingerprint(path: Path) -> str:
    """Changes whenever the artifact at ``path`` (or the target of a ``current`` symlink) is replaced."""
    resolved = Path(os.path.realpath(path))
    h = hashlib.sha256(str(resolved).encode())
    if resolved.is_dir():
        for child in sorted(resolved.iterdir()):
            with_stat = child.stat()
            h.update(f"{child.name}:{with_stat.st_size}:{with_stat.st_mtime_ns}".encode())
    return h.hexdigest()


class ModelAdapter:
    """Everything the service needs from one loaded artifact. Call from one thread at a time."""

    def __init__(self, model: ServingModel) -> None:
        self.model = model
        self.version: str = str(model.version)
        self.dim: int = int(model.dim)
        self.model_dim: int = int(model.model_dim)  # the model's own columns (without the new-item boost's)
        self.new_item_boost: float = float(model.new_item_boost)
        self.max_len: int = int(model.max_len)
        self.text_dim: int = int(model.text_dim)
        self.image_dim: int = int(model.image_dim)
        if not model.id_free:
            raise ValueError("artifact: uses item IDs; the service needs an ID-free model to score new items")
        # columns a user vector can make count; the index scores only these (None: all)
        self.score_columns: np.ndarray | None = model.score_columns
        self.domain_names: list[str] = list(model.domain_names) or [""]
        self._domain_index = {name: i for i, name in enumerate(self.domain_names)}
        # Named domains are validated; a single-domain model accepts any target domain (it has one).
        self.domains: frozenset[str] | None = frozenset(self.domain_names) if len(self.domain_names) > 1 else None

    @classmethod
    def load(cls, artifact: Path, history_cache_size: int = 0) -> ModelAdapter:
        """Load the artifact at ``artifact`` (a symlink is resolved once, so a swap mid-load is harmless);
        ``history_cache_size`` > 0 caches that many users' history states (see ``ServingModel.load``)."""
        resolved = Path(os.path.realpath(artifact))
        if not resolved.is_dir():
            raise FileNotFoundError(f"artifact: {artifact} is not a directory")
        return cls(ServingModel.load(resolved, history_cache_size))

    def take_history_cache_counts(self) -> tuple[int, int]:
        """(hits, misses) of the history-state cache since the previous call."""
        return self.model.take_history_cache_counts()

    def catalogue(self) -> FeatureTable:
        """The artifact's training items as a feature table."""
        c = self.model.catalogue()
        return FeatureTable.from_arrays(list(c.item_ids), c.text, c.image, c.has_text, c.has_image)

    def popularity(self) -> dict[str, float]:
        """Training interaction counts per item, as the artifact records them (empty for older artifacts)."""
        return self.model.popularity()

    def domain_of(self, name: str) -> int:
        """Index of a domain name; the empty or an unknown name is the default domain 0."""
        return self._domain_index.get(name, 0)

    def item_vectors(
        self,
        text: np.ndarray,
        image: np.ndarray,
        has_text: np.ndarray,
        has_image: np.ndarray,
        item_ids: list[str],
    ) -> np.ndarray:
        """(n, dim) float32 projected item vectors from raw encoder outputs (ID-free); ``item_ids`` mark the
        items the model never trained on, which a new-item boost raises."""
        if len(has_text) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.item_vectors(text, image, has_text, has_image, item_ids=list(item_ids))
        return np.ascontiguousarray(out, dtype=np.float32)

    def user_vectors(self, batch: HistoryBatch) -> np.ndarray:
        """(B, dim) float32 user vectors in one forward pass, from the history items' cached item vectors."""
        width = batch.times_ms.shape[1]
        domains = np.zeros((len(batch.domains), width), dtype=np.int64)
        for b, names in enumerate(batch.domains):
            domains[b, : len(names)] = [self.domain_of(n) for n in names]
        targets = np.array([self.domain_of(t) for t in batch.target_domains], dtype=np.int64)
        out = self.model.user_vectors_from_item_vectors(
            batch.item_vectors, batch.times_ms, batch.lengths, batch.request_ms, domains, targets
        )
        return np.ascontiguousarray(out, dtype=np.float32)

    def history_bias(self, batch: HistoryBatch) -> np.ndarray | None:
        """(B, L) float32 repeat bias each history position adds to its item's score; None without one."""
        return self.model.history_bias(batch.times_ms, batch.lengths, batch.request_ms)
