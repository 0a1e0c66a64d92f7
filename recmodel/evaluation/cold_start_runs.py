"""One cold-start run: a split (time or random), every trained model and baseline on it, per-case metrics out."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from recmodel.data.source import ResolvedDataset
from recmodel.data.splits import EvalCases, Split
from recmodel.evaluation.baselines import (
    KNN_K_GRID,
    ContentKnn,
    ContentModality,
    content_vectors,
    popularity_scores,
    random_scores,
)
from recmodel.evaluation.protocol import SplitMeasurement, masked, measure, per_case_metrics, ranks_among
from recmodel.model.catalogue import Catalogue
from recmodel.training.boost_selection import Aggregate
from recmodel.training.config import ExperimentConfig
from recmodel.training.experiment import choose_boost, prepare_data
from recmodel.training.loop import TrainResult, train
from recmodel.training.scoring import score_and_users, with_boost

LOG = logging.getLogger(__name__)
KNN_MODALITIES: tuple[ContentModality, ...] = ("text", "image", "both")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Which split (``cold_by``, ``split_seed``) and which training seed one run uses."""

    split: str  # report name of the split kind: "time" or "random"
    cold_by: str
    split_seed: int
    train_seed: int

    @property
    def label(self) -> str:
        return f"{self.split}-split{self.split_seed}-seed{self.train_seed}"


def split_config(cfg: ExperimentConfig, spec: RunSpec) -> ExperimentConfig:
    """``cfg`` on the run's split and training seed (no progress bars)."""
    data = cfg.data.model_copy(update={"cold_by": spec.cold_by, "split_seed": spec.split_seed})
    tc = cfg.train.model_copy(update={"seed": spec.train_seed, "progress": False})
    return cfg.model_copy(update={"data": data, "train": tc})


def _serialise(m: SplitMeasurement) -> dict:
    def lists(d: dict[str, np.ndarray]) -> dict[str, list[float]]:
        return {k: np.round(v, 6).tolist() for k, v in d.items()}

    return {
        "cold_only": lists(m.cold_only),
        "cold_full": lists(m.cold_full),
        "warm": lists(m.warm),
        "warm_without_cold": lists(m.warm_without_cold),
        "exposure": np.round(m.exposure, 6).tolist(),
        "summary": m.summary(),
    }


def _parts(split: Split) -> tuple[EvalCases, EvalCases]:
    test = split.test
    return test.subset(test.cold), test.subset(~test.cold)


def choose_knn_k(split: Split, vectors: np.ndarray) -> tuple[int, dict[int, float]]:
    """``k`` of content-kNN with the best validation NDCG@10 of cold targets among the cold items (all
    validation targets in full ranking when validation has fewer than 20 cold targets); never the test split."""
    valid = split.valid
    cold_cases = valid.subset(valid.cold)
    use_cold = len(cold_cases) >= 20
    cases = cold_cases if use_cold else valid
    candidates = np.flatnonzero(split.cold_items) if use_cold else np.arange(split.num_items)
    table = {}
    for k in KNN_K_GRID:
        scores = masked(ContentKnn(vectors, k).scores(cases), cases)
        table[k] = float(per_case_metrics(ranks_among(scores, cases.targets, candidates))["ndcg@10"].mean())
    return max(table, key=lambda k: (table[k], -k)), table


def baseline_results(split: Split, catalogue: Catalogue, seed: int) -> dict[str, dict]:
    """Random, popularity and content-kNN (text, image, both; k chosen on validation) on the split's test cases."""
    cold, warm = _parts(split)
    out: dict[str, dict] = {}
    scorers = {
        "random": lambda cases: random_scores(split.num_items, cases, seed),
        "popularity": lambda cases: popularity_scores(split, cases),
    }
    for name, score in scorers.items():
        out[name] = _serialise(measure(score(cold), cold, score(warm), warm, split.cold_items))
    for modality in KNN_MODALITIES:
        vectors = content_vectors(catalogue, modality, split.train_items)
        k, table = choose_knn_k(split, vectors)
        knn = ContentKnn(vectors, k)
        result = _serialise(measure(knn.scores(cold), cold, knn.scores(warm), warm, split.cold_items))
        out[f"knn_{modality}"] = result | {"k": k, "k_selection": table}
    return out


def model_results(cfg: ExperimentConfig, split: Split, catalogue: Catalogue, name: str) -> dict[str, dict]:
    """Train ``cfg`` on the split, choose its new-item boost on validation and measure it on the test cases, as
    ``{name: ...}``. When the config lets the content channel match the closest recent item (``max``), the same
    trained model is also measured with a boost chosen among mean-profile settings only, as
    ``{name}_mean_match``: a paired measurement of that choice at no extra training."""
    result = train(cfg, split, catalogue)
    out = {name: _measure_model(result, cfg, split, catalogue, None)}
    t = cfg.train
    if "max" in t.new_item_content_aggregates and t.new_item_content_dims > 0 and t.new_item_boost_max_cost > 0:
        out[f"{name}_mean_match"] = _measure_model(result, cfg, split, catalogue, ("mean",))
    return out


def _measure_model(
    result: TrainResult,
    cfg: ExperimentConfig,
    split: Split,
    catalogue: Catalogue,
    aggregates: tuple[Aggregate, ...] | None,
) -> dict:
    boost, table = choose_boost(result.model, cfg, split, catalogue, aggregates)
    cold, warm = _parts(split)
    scored: dict[str, np.ndarray] = {}
    for name, cases in (("cold", cold), ("warm", warm), ("warm_no_images", warm)):
        cat = catalogue.without("image") if name == "warm_no_images" else catalogue
        if name == "warm_no_images" and "image" not in result.model.modalities:
            scored[name] = scored["warm"]
            continue
        scores, users = score_and_users(result.model, cat, cases)
        scored[name] = with_boost(scores, users, boost, cat, cases)
    measured = _serialise(measure(scored["cold"], cold, scored["warm"], warm, split.cold_items))
    no_images = masked(scored["warm_no_images"], warm)
    no_images_ndcg = per_case_metrics(ranks_among(no_images, warm.targets, np.arange(split.num_items)))["ndcg@10"]
    measured["warm_no_images_ndcg@10"] = np.round(no_images_ndcg, 6).tolist()
    measured["summary"]["warm_no_images/ndcg@10"] = float(no_images_ndcg.mean()) if len(no_images_ndcg) else 0.0
    content = boost.content if boost is not None else None
    return measured | {
        "train_seconds": result.seconds,
        "best_epoch": result.best_epoch,
        "new_item_boost_beta": boost.beta if boost is not None else 0.0,
        "content_channel": None
        if content is None
        else {"aggregate": content.aggregate, "profile_len": content.profile_len, "weight": content.weight},
        "boost_selection": table,
    }


def prepare_run(
    cfg: ExperimentConfig, spec: RunSpec, data: Path | ResolvedDataset, features: Path
) -> tuple[Split, Catalogue]:
    """The run's split and aligned catalogue."""
    return prepare_data(split_config(cfg, spec), data, features, progress=False)


def describe_split(split: Split) -> dict[str, int]:
    """Sizes reported beside every split."""
    cold, warm = _parts(split)
    return {
        "items": split.num_items,
        "cold_items": int(split.cold_items.sum()),
        "cold_test_cases": len(cold),
        "warm_test_cases": len(warm),
        "cold_valid_cases": int(split.valid.cold.sum()),
    }
