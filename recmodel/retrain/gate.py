"""Score an artifact on the evaluation slice as the ranker serves it, and decide whether the candidate ships.

Both the candidate and the served artifact go through :class:`recmodel.model.serving.ServingModel` with the same
cases and the same item table (the training catalogue): every item's vector from its raw features (items a
model never trained on are content alone, as served), the user's vector from the vectors of its history items
(the most recent ``max_len``) at the target's time, every catalogue item scored, the items the user had before
removed (the target itself stays, so a repeat is not punished). Per-case NDCG@10 / HR@10 with bootstrap 95%
intervals over cases, and a paired bootstrap of the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recmodel.evaluation.bootstrap import bootstrap_interval, paired_bootstrap
from recmodel.model.catalogue import Catalogue
from recmodel.model.serving import ServingModel
from recmodel.retrain.events import SliceCases

K = 10


@dataclass(frozen=True)
class SliceScore:
    """Per-case metrics of one model on the slice."""

    version: str
    ndcg: np.ndarray  # (C,) float64
    hit: np.ndarray  # (C,) float64

    def metric(self, name: str) -> np.ndarray:
        return {"ndcg@10": self.ndcg, "hr@10": self.hit}[name]

    def summary(self) -> dict[str, object]:
        return {
            "version": self.version,
            "cases": len(self.ndcg),
            "ndcg@10": bootstrap_interval(self.ndcg).as_dict(),
            "hr@10": bootstrap_interval(self.hit).as_dict(),
        }


def score_artifact(artifact: Path, catalogue: Catalogue, cases: SliceCases, batch_size: int = 256) -> SliceScore:
    """Load ``artifact`` and score it on ``cases`` over ``catalogue`` (see the module docstring)."""
    model = ServingModel.load(Path(artifact))
    return score_model(model, catalogue, cases, batch_size)


def score_model(model: ServingModel, catalogue: Catalogue, cases: SliceCases, batch_size: int = 256) -> SliceScore:
    if not model.id_free:
        raise ValueError(f"{model.version}: ID-based artifacts cannot score items outside their catalogue")
    if (model.text_dim, model.image_dim) != (catalogue.text.shape[1], catalogue.image.shape[1]):
        raise ValueError(f"{model.version}: encoder dims differ from the training catalogue's")
    ids = list(catalogue.item_ids)
    items = np.empty((len(ids), model.dim), dtype=np.float32)
    for start in range(0, len(ids), 8192):
        sl = slice(start, start + 8192)
        items[sl] = model.item_vectors(
            catalogue.text[sl], catalogue.image[sl], catalogue.has_text[sl], catalogue.has_image[sl], item_ids=ids[sl]
        )
    ranks = np.empty(len(cases), dtype=np.int64)
    for start in range(0, len(cases), batch_size):
        rows = range(start, min(start + batch_size, len(cases)))
        histories = [cases.histories[r][-model.max_len :] for r in rows]
        times = [cases.history_times[r][-model.max_len :] for r in rows]
        lengths = np.array([len(h) for h in histories], dtype=np.int64)
        width = int(lengths.max())
        padded = np.zeros((len(histories), width, model.dim), dtype=np.float32)
        stamps = np.zeros((len(histories), width), dtype=np.int64)
        for b, (h, t) in enumerate(zip(histories, times, strict=True)):
            padded[b, : len(h)] = items[h]
            stamps[b, : len(t)] = t
        users = model.user_vectors_from_item_vectors(padded, stamps, lengths, cases.target_times[start : rows.stop])
        scores = users @ items.T
        for b, r in enumerate(rows):
            target = cases.targets[r]
            seen = cases.histories[r]
            seen = seen[seen != target]
            target_score = scores[b, target]
            scores[b, seen] = -np.inf
            ranks[r] = int((scores[b] >= target_score).sum()) - 1  # ties count against the target
    ndcg = np.where(ranks < K, 1.0 / np.log2(ranks + 2.0), 0.0)
    hit = (ranks < K).astype(np.float64)
    return SliceScore(model.version, ndcg, hit)


@dataclass(frozen=True)
class Decision:
    publish: bool
    reason: str
    relative_delta: float | None  # (candidate - served) / served on the gate metric; None without a served model

    @property
    def label(self) -> str:
        return "published" if self.publish else "refused"


def decide(
    candidate: SliceScore, served: SliceScore | None, metric: str, margin: float, min_cases: int
) -> tuple[Decision, dict[str, float | bool] | None]:
    """Publish when the candidate's mean ``metric`` is at least the served one's x (1 - margin); also returns the
    paired difference (candidate - served) for the report."""
    cases = len(candidate.ndcg)
    cand = float(candidate.metric(metric).mean()) if cases else 0.0
    if served is None:
        return Decision(True, "no served model to compare with", None), None
    paired = paired_bootstrap(candidate.metric(metric), served.metric(metric)).as_dict()
    base = float(served.metric(metric).mean()) if cases else 0.0
    relative = (cand - base) / base if base > 0 else (0.0 if cand == base else float("inf"))
    if cases < min_cases:
        return Decision(False, f"only {cases} evaluation cases (< {min_cases}): no evidence", relative), paired
    floor = base * (1 - margin)
    if cand >= floor:
        reason = f"{metric} {cand:.4f} >= served {base:.4f} x (1 - {margin:g}) = {floor:.4f}"
        return Decision(True, reason, relative), paired
    reason = f"{metric} {cand:.4f} < served {base:.4f} x (1 - {margin:g}) = {floor:.4f}"
    return Decision(False, reason, relative), paired
