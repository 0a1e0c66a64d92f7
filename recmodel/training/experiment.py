"""Shared steps of the train and evaluate CLIs: data preparation, test-split evaluation, artifact writing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import yaml

from recmodel.data.contract import Dataset
from recmodel.data.domains import with_genre_domains
from recmodel.data.identity import data_key
from recmodel.data.loaders import load_dataset
from recmodel.data.source import ResolvedDataset, dataset_from_path
from recmodel.data.splits import EvalCases, Sequence, Split, leave_one_out
from recmodel.data.time_ablation import shuffle_gaps_within_users
from recmodel.features import dataset_item_features
from recmodel.metrics import ranking_metrics
from recmodel.model.artifact import save_artifact
from recmodel.model.catalogue import Catalogue
from recmodel.model.new_item_boost import NewItemBoost
from recmodel.model.recommender import Recommender
from recmodel.training.boost_selection import Aggregate, select_new_item_boost
from recmodel.training.config import ExperimentConfig
from recmodel.training.curves import plot_training_curves
from recmodel.training.loop import TrainResult
from recmodel.training.scoring import case_ranks, score_and_users, score_cases, with_boost

EVAL_SPLITS = ("warm", "cold", "no_images", "no_texts", "warm_masked", "cold_unboosted")


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """A split with its aligned catalogue, the dataset it came from and the content key caches use.

    ``key`` is a sha256 over the data (how it is read, the events, items and image files' bytes) and the item
    features (their own content key): equal keys mean the same inputs, whatever the folder or dataset name.
    """

    split: Split
    catalogue: Catalogue
    source: ResolvedDataset
    key: str


def resolve_data(cfg: ExperimentConfig, data: Path | ResolvedDataset) -> ResolvedDataset:
    """``data`` as a resolved dataset: a path is read as ``--data`` is (see ``recmodel.data.source``)."""
    return data if isinstance(data, ResolvedDataset) else dataset_from_path(data, cfg.data.dataset)


def prepare_dataset(
    cfg: ExperimentConfig, data: Path | ResolvedDataset, cache_dir: Path, progress: bool = True
) -> PreparedData:
    """Load the dataset, split it and attach its cached encoder features aligned to the split's item order."""
    source = resolve_data(cfg, data)
    dataset = load_dataset(source)
    features = dataset_item_features(dataset, cache_dir, progress=progress)
    key = hashlib.sha256(f"{data_key(source, dataset.items)}:{features.key}".encode()).hexdigest()
    if cfg.data.genre_domains:
        dataset = with_genre_domains(dataset)
    if cfg.data.user_limit:
        dataset = _first_users(dataset, cfg.data.user_limit)
    if cfg.data.time_shuffle:
        dataset = shuffle_gaps_within_users(dataset, cfg.data.split_seed)
    split = leave_one_out(
        dataset, cfg.data.cold_fraction, cfg.data.split_seed, cfg.data.max_len, cold_by=cfg.data.cold_by
    )
    catalogue = features.catalogue.aligned_to(split.item_ids).with_train_counts(split.train_counts())
    if cfg.data.image_fraction < 1.0:
        catalogue = catalogue.with_images_on(cfg.data.image_fraction, cfg.data.split_seed)
    return PreparedData(split, catalogue, source, key)


def prepare_data(
    cfg: ExperimentConfig, data: Path | ResolvedDataset, cache_dir: Path, progress: bool = True
) -> tuple[Split, Catalogue]:
    """:func:`prepare_dataset`'s split and catalogue."""
    prepared = prepare_dataset(cfg, data, cache_dir, progress)
    return prepared.split, prepared.catalogue


def _first_users(dataset: Dataset, limit: int) -> Dataset:
    """The events of the first ``limit`` users in file order (smoke runs and tests)."""
    users = list(dict.fromkeys(dataset.events.user_ids.tolist()))[:limit]
    keep = np.isin(dataset.events.user_ids, np.array(users, dtype=object))
    ev = dataset.events
    events = dataclasses.replace(
        ev,
        user_ids=ev.user_ids[keep],
        item_ids=ev.item_ids[keep],
        timestamps_ms=ev.timestamps_ms[keep],
        domains=None if ev.domains is None else ev.domains[keep],
        event_types=None if ev.event_types is None else ev.event_types[keep],
    )
    return dataclasses.replace(dataset, events=events)


def evaluate_test(
    model: Recommender, split: Split, catalogue: Catalogue, boost: NewItemBoost | None = None
) -> dict[str, dict[str, float]]:
    """Full-ranking test metrics on every evaluation split (see ``EVAL_SPLITS``), scored with ``boost``.

    warm / cold: test cases whose target is a training / cold item, history unmasked; no_images / no_texts:
    warm cases with that modality removed from every item at test time; warm_masked: warm cases with the
    user's previously seen items removed from the ranking; cold_unboosted: the cold cases without the boost.
    """
    test = split.test
    warm, cold = test.subset(~test.cold), test.subset(test.cold)
    warm_scores = score_cases(model, catalogue, warm, boost=boost)
    cold_scores, cold_users = score_and_users(model, catalogue, cold)
    boosted_cold = with_boost(cold_scores, cold_users, boost, catalogue, cold)
    out = {
        "warm": ranking_metrics(case_ranks(warm_scores, warm)),
        "warm_masked": ranking_metrics(case_ranks(warm_scores, warm, mask_history=True)),
        "cold": ranking_metrics(case_ranks(boosted_cold, cold)),
        "cold_unboosted": ranking_metrics(case_ranks(cold_scores, cold)),
    }
    for name, modality in (("no_images", "image"), ("no_texts", "text")):
        scores = score_cases(model, catalogue.without(modality), warm, boost=boost)
        out[name] = ranking_metrics(case_ranks(scores, warm))
    return {name: out[name] for name in EVAL_SPLITS}


def choose_boost(
    model: Recommender,
    cfg: ExperimentConfig,
    split: Split,
    catalogue: Catalogue,
    aggregates: tuple[Aggregate, ...] | None = None,
) -> tuple[NewItemBoost | None, list[dict[str, float]]]:
    """The new-item boost (and content channel) the config asks for, chosen on validation (``aggregates``:
    the content match aggregates to choose from; None: the config's)."""
    return select_new_item_boost(
        model,
        split,
        catalogue,
        cfg.train.new_item_boost_max_cost,
        max_image_free_cost=cfg.train.new_item_boost_max_image_free_cost,
        content_dims=cfg.train.new_item_content_dims,
        aggregates=aggregates or tuple(cfg.train.new_item_content_aggregates),
    )


def boost_and_test(
    model: Recommender, cfg: ExperimentConfig, split: Split, catalogue: Catalogue
) -> tuple[NewItemBoost | None, dict, dict[str, dict[str, float]]]:
    """Choose the new-item boost on validation (``train.new_item_boost_max_cost``), then test with it.

    Returns (boost or None, {"beta", "selection"} for metrics.json, test metrics)."""
    boost, table = choose_boost(model, cfg, split, catalogue)
    info = {"beta": boost.beta if boost is not None else 0.0, "selection": table}
    return boost, info, evaluate_test(model, split, catalogue, boost)


def write_artifact(
    out: Path,
    cfg: ExperimentConfig,
    result: TrainResult,
    split: Split,
    catalogue: Catalogue,
    test: dict,
    boost: NewItemBoost | None = None,
    boost_info: dict | None = None,
    data: PreparedData | None = None,
) -> None:
    """Weights, config, item-id map, catalogue, new-item boost, metrics.json and training-curve PNG under ``out``.

    With ``data``, metrics.json records which dataset (files, format, content key) the model was trained on."""
    save_artifact(out, result.model, catalogue, split.domain_names, boost)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    metrics = {
        "name": cfg.name,
        "best_epoch": result.best_epoch,
        "best_valid_ndcg@20": result.best_valid,
        "train_seconds": result.seconds,
        "test": test,
        "new_item_boost": boost_info or {"beta": 0.0, "selection": []},
        "test_cases": {"warm": int((~split.test.cold).sum()), "cold": int(split.test.cold.sum())},
        "history": result.history,
    }
    if data is not None:
        metrics["data"] = {
            "name": data.source.name,
            "format": data.source.format,
            "events": str(data.source.events),
            "items": str(data.source.items),
            "key": data.key,
        }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_training_curves(result.history, out / "training_curve.png", title=cfg.name)


def _truncated(cases: EvalCases, max_len: int) -> EvalCases:
    histories = [Sequence(h.items[-max_len:], h.times_ms[-max_len:], h.domains[-max_len:]) for h in cases.histories]
    return dataclasses.replace(cases, histories=histories)


def with_max_len(split: Split, max_len: int) -> Split:
    """``split`` with every validation and test history cut to its last ``max_len`` events (as a split built with
    that ``max_len`` has them); the training sequences are whole either way (windows are cut at training)."""
    longest = max((len(h.items) for cases in (split.valid, split.test) for h in cases.histories), default=0)
    if longest <= max_len:
        return split
    return dataclasses.replace(split, valid=_truncated(split.valid, max_len), test=_truncated(split.test, max_len))
