"""One evaluation run: train a (model, seed), score it on every test split and keep its per-user target ranks;
the worker side of ``python -m recmodel.evaluate`` (one process per worker, data prepared once per process)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recmodel.data.source import ResolvedDataset
from recmodel.data.splits import Split
from recmodel.evaluation.plan import data_variant
from recmodel.evaluation.run_store import RunStore
from recmodel.metrics import ranking_metrics
from recmodel.model.catalogue import Catalogue
from recmodel.training.config import ExperimentConfig
from recmodel.training.experiment import boost_and_test, prepare_dataset, with_max_len
from recmodel.training.loop import train
from recmodel.training.scoring import case_ranks, score_cases

LOG = logging.getLogger("recmodel.evaluate")  # the CLI's logger: one log for the whole evaluation


def _ranks(values: np.ndarray) -> list[int]:
    return [int(r) for r in values]


def train_and_test(cfg: ExperimentConfig, seed: int, split: Split, catalogue: Catalogue) -> dict:
    split = with_max_len(split, cfg.data.max_len)
    result = train(cfg, split, catalogue)
    boost, boost_info, test = boost_and_test(result.model, cfg, split, catalogue)
    valid = split.valid.subset(split.train_items[split.valid.targets])
    valid_ranks = case_ranks(score_cases(result.model, catalogue, valid), valid, mask_history=True)
    warm = split.test.subset(~split.test.cold)
    cold = split.test.subset(split.test.cold)
    warm_scores = score_cases(result.model, catalogue, warm, boost=boost)
    cold_scores = score_cases(result.model, catalogue, cold, boost=boost)
    return {
        "model": cfg.name,
        "seed": seed,
        "config": cfg.model_dump(mode="json"),
        "train_seconds": result.seconds,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "valid": {"warm_masked": ranking_metrics(valid_ranks)},
        "test": test,
        "ranks": {
            "warm_users": warm.users.tolist(),
            "warm": _ranks(case_ranks(warm_scores, warm)),
            "warm_masked": _ranks(case_ranks(warm_scores, warm, mask_history=True)),
            "cold_users": cold.users.tolist(),
            "cold_masked": _ranks(case_ranks(cold_scores, cold, mask_history=True)),
        },
        "new_item_boost": boost_info,
        "final_contribution": {
            k.removeprefix("contribution/"): v for k, v in result.history[-1].items() if k.startswith("contribution/")
        },
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": list(os.getloadavg()),
        "pid": os.getpid(),
    }


def save_run(store: RunStore, name: str, run: dict) -> None:
    """Keep a finished run (cache and archive) and log its headline numbers."""
    store.save(name, run)
    LOG.info(
        "%s seed %d: %.0fs, best epoch %d/%d, valid masked ndcg@10 %.4f, warm masked ndcg@10 %.4f, warm %.4f",
        run["model"],
        run["seed"],
        run["train_seconds"],
        run["best_epoch"],
        run["epochs_run"],
        run["valid"]["warm_masked"]["ndcg@10"],
        run["test"]["warm_masked"]["ndcg@10"],
        run["test"]["warm"]["ndcg@10"],
    )


WORKER: dict = {}


def init_worker(source: ResolvedDataset, features: Path, max_len: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    WORKER.update(source=source, features=features, max_len=max_len, data={})


def worker_data(cfg: ExperimentConfig) -> tuple[Split, Catalogue]:
    key = data_variant(cfg)
    if key not in WORKER["data"]:
        data_cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"max_len": WORKER["max_len"]})})
        prepared = prepare_dataset(data_cfg, WORKER["source"], WORKER["features"], progress=False)
        WORKER["data"][key] = (prepared.split, prepared.catalogue)
    return WORKER["data"][key]


def worker_run(cfg: ExperimentConfig, seed: int) -> dict:
    split, catalogue = worker_data(cfg)
    return train_and_test(cfg, seed, split, catalogue)
