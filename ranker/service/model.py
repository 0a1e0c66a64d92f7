"""The served model is recmodel's ``ServingModel`` itself (no adapter): loading it for the service, and the service's
conversion of a history batch (domain names) to the model's arrays."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

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


def load_model(artifact: Path, history_cache_size: int = 0) -> ServingModel:
    """Load the artifact at ``artifact`` (a symlink is resolved once, so a swap mid-load is harmless);
    ``history_cache_size`` > 0 caches that many users' history states (see ``ServingModel.load``). The service
    scores items it never trained on, so the model must be ID-free."""
    resolved = Path(os.path.realpath(artifact))
    if not resolved.is_dir():
        raise FileNotFoundError(f"artifact: {artifact} is not a directory")
    model = ServingModel.load(resolved, history_cache_size)
    if not model.id_free:
        raise ValueError("artifact: uses item IDs; the service needs an ID-free model to score new items")
    return model


def target_domains(model: ServingModel) -> frozenset[str] | None:
    """The target domains a request may name: a multi-domain model's names; None (any) for a single-domain model,
    which has one domain whatever the name."""
    return frozenset(model.domain_names) if len(model.domain_names) > 1 else None


def _domain_of(model: ServingModel) -> dict[str, int]:
    return {name: i for i, name in enumerate(model.domain_names)}


def user_vectors(model: ServingModel, batch: HistoryBatch) -> tuple[np.ndarray, np.ndarray | None]:
    """(B, dim) float32 user vectors in one forward pass, from the history items' cached item vectors, and the
    (B, L) float32 repeat bias each history position adds to its item's score (None without one); the empty or
    an unknown domain name is the default domain 0."""
    index = _domain_of(model)
    width = batch.times_ms.shape[1]
    domains = np.zeros((len(batch.domains), width), dtype=np.int64)
    for b, names in enumerate(batch.domains):
        domains[b, : len(names)] = [index.get(n, 0) for n in names]
    targets = np.array([index.get(t, 0) for t in batch.target_domains], dtype=np.int64)
    users, bias = model.user_vectors_and_history_bias(
        batch.item_vectors, batch.times_ms, batch.lengths, batch.request_ms, domains, targets
    )
    return np.ascontiguousarray(users, dtype=np.float32), bias
