"""Evaluate every model of an evaluation config over several seeds in one run and write the report.

``python -m ranker.evaluate --config ranker/configs/eval_ml100k.yaml``

Each (model, seed) is trained by the same harness on the same split and evaluated with full ranking on the
warm, cold, no_images, no_texts and warm_masked test splits. Finished runs are cached under ``var/eval-runs/``,
keyed by the model config, the seed and the data's content key (events, items, images and item features; see
``ranker.training.experiment.PreparedData``), so an interrupted evaluation resumes and other data never reuses a
run; ``--fresh`` ignores the cache. Any dataset of docs/data-contract.md: ``--data`` / ``--events`` / ``--items``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ranker.data.source import ResolvedDataset, add_data_arguments, dataset_from_args
from ranker.data.splits import Split
from ranker.model.catalogue import Catalogue
from ranker.settings import REPO_ROOT, RankerPaths
from ranker.training.config import ExperimentConfig, load_experiment, load_raw
from ranker.training.experiment import EVAL_SPLITS, boost_and_test, prepare_data, prepare_dataset
from ranker.training.loop import train
from ranker.training.report import render_markdown

LOG = logging.getLogger("ranker.evaluate")


class EvalConfig(BaseModel):
    """Which models (experiment YAMLs, relative to this file) to compare, over which seeds, written where."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    models: dict[str, str] = Field(min_length=1)
    report_json: Path = Path("reports/eval/ml100k-mm.json")
    report_markdown: Path = Path("reports/eval/ml100k-mm.md")
    run_cache: Path = Path("var/eval-runs")
    workers: int = Field(1, ge=1, description="training processes run side by side (each single-threaded)")
    notes: str = Field("", description="free text appended to the markdown report")


def _run_key(model_cfg: dict, seed: int, data_key: str) -> str:
    blob = json.dumps({"cfg": model_cfg, "seed": seed, "data": data_key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _train_and_test(cfg: ExperimentConfig, seed: int, split: Split, catalogue: Catalogue) -> dict:
    result = train(cfg, split, catalogue)
    _, boost_info, test = boost_and_test(result.model, cfg, split, catalogue)
    return {
        "model": cfg.name,
        "seed": seed,
        "train_seconds": result.seconds,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "test": test,
        "new_item_boost": boost_info,
        "final_contribution": {
            k.removeprefix("contribution/"): v for k, v in result.history[-1].items() if k.startswith("contribution/")
        },
    }


def _save_run(path: Path, run: dict) -> None:
    path.write_text(json.dumps(run, indent=2))
    LOG.info(
        "%s seed %d: %.0fs, best epoch %d/%d, warm ndcg@10 %.4f, cold ndcg@10 %.4f, no_images ndcg@10 %.4f",
        run["model"],
        run["seed"],
        run["train_seconds"],
        run["best_epoch"],
        run["epochs_run"],
        run["test"]["warm"]["ndcg@10"],
        run["test"]["cold"]["ndcg@10"],
        run["test"]["no_images"]["ndcg@10"],
    )


_WORKER: dict = {}


def _init_worker(data_cfg: ExperimentConfig, source: ResolvedDataset, features: Path) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _WORKER["data"] = prepare_data(data_cfg, source, features, progress=False)


def _worker_run(cfg: ExperimentConfig, seed: int) -> dict:
    split, catalogue = _WORKER["data"]
    return _train_and_test(cfg, seed, split, catalogue)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    paths = RankerPaths()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "ranker/configs/eval_ml100k.yaml")
    parser.add_argument("--features", type=Path, default=paths.feature_cache_dir)
    parser.add_argument("--fresh", action="store_true", help="retrain every run, ignoring cached results")
    parser.add_argument("--models", default="", help="comma-separated subset of the config's models")
    parser.add_argument("--workers", type=int, default=None, help="override the config's worker count")
    parser.add_argument("--seeds", default="", help="comma-separated seeds overriding the config's")
    parser.add_argument(
        "--report-only", action="store_true", help="write the report from cached runs only (missing runs listed)"
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="write the report to REPORT.json / REPORT.md instead of the config's"
    )
    add_data_arguments(parser, paths.data_dir)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    eval_cfg = EvalConfig.model_validate(load_raw(args.config))
    if args.workers is not None:
        eval_cfg = eval_cfg.model_copy(update={"workers": max(1, args.workers)})
    if args.seeds:
        eval_cfg = eval_cfg.model_copy(update={"seeds": [int(s) for s in args.seeds.split(",")]})
    if args.report is not None:
        report = args.report.resolve()
        update = {
            "report_json": report.parent / f"{report.name}.json",
            "report_markdown": report.parent / f"{report.name}.md",
        }
        eval_cfg = eval_cfg.model_copy(update=update)
    names = [m.strip() for m in args.models.split(",") if m.strip()] or list(eval_cfg.models)
    unknown = [n for n in names if n not in eval_cfg.models]
    if unknown:
        raise SystemExit(f"--models: unknown {unknown}; known {list(eval_cfg.models)}")
    configs = {n: load_experiment(args.config.parent / eval_cfg.models[n]) for n in names}
    data_keys = {c.data.model_dump_json() for c in configs.values()}
    if len(data_keys) != 1:
        raise SystemExit("models: every model of one evaluation must use the same data settings")
    data_cfg = next(iter(configs.values()))
    data = prepare_dataset(data_cfg, dataset_from_args(args, data_cfg.data.dataset), args.features)
    split, catalogue = data.split, data.catalogue
    LOG.info("data: %s (%s, key %s) from %s", data.source.name, data.source.format, data.key[:16], data.source.events)
    if data.source.name not in eval_cfg.report_json.name:
        LOG.warning("the report %s does not name dataset %s: pass --report", eval_cfg.report_json, data.source.name)
    cache = REPO_ROOT / eval_cfg.run_cache
    cache.mkdir(parents=True, exist_ok=True)

    jobs: list[tuple[str, int, ExperimentConfig, Path]] = []
    for seed in eval_cfg.seeds:  # seed-major: an interrupted run still has every model at some seeds
        for name in names:
            train_cfg = configs[name].train.model_copy(update={"seed": seed, "progress": False})
            cfg = configs[name].model_copy(update={"name": name, "train": train_cfg})
            key = _run_key(cfg.model_dump(mode="json"), seed, data.key)
            jobs.append((name, seed, cfg, cache / f"{name}-seed{seed}-{key}.json"))
    started = time.perf_counter()
    todo = [] if args.report_only else [j for j in jobs if args.fresh or not j[3].exists()]
    LOG.info(
        "%d runs, %d cached, %d to train with %d worker(s)",
        len(jobs),
        len(jobs) - len(todo),
        len(todo),
        eval_cfg.workers,
    )
    if eval_cfg.workers == 1:
        for _, seed, cfg, path in todo:
            _save_run(path, _train_and_test(cfg, seed, split, catalogue))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            eval_cfg.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(data_cfg, data.source, args.features),
        ) as pool:
            futures = {pool.submit(_worker_run, cfg, seed): path for _, seed, cfg, path in todo}
            for future in as_completed(futures):
                _save_run(futures[future], future.result())
    runs: dict[str, list[dict]] = {n: [] for n in names}
    missing = []
    for name, seed, _, path in jobs:
        if path.exists():
            runs[name].append(json.loads(path.read_text()))
        else:
            missing.append(f"{name} seed {seed}")
    names = [n for n in names if runs[n]]

    report: dict = {
        name: {s: {m: [r["test"][s][m] for r in runs[name]] for m in runs[name][0]["test"][s]} for s in EVAL_SPLITS}
        for name in names
    }
    report["train_seconds"] = {n: sum(r["train_seconds"] for r in runs[n]) / len(runs[n]) for n in names}
    report["new_item_boost_beta"] = {n: [r["new_item_boost"]["beta"] for r in runs[n]] for n in names}
    out_json = REPO_ROOT / eval_cfg.report_json
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(report, indent=2))
    context = {
        "seeds": eval_cfg.seeds,
        "warm_cases": int((~split.test.cold).sum()),
        "cold_cases": int(split.test.cold.sum()),
        "items": split.num_items,
        "cold_items": int(split.cold_items.sum()),
        "users": len(split.user_ids),
        # a wall time only when this invocation trained every run: cached runs took their time earlier
        "wall_seconds": time.perf_counter() - started if len(todo) == len(jobs) else None,
        "missing": missing,
        "notes": eval_cfg.notes,
        "workers": eval_cfg.workers,
        "runs": runs,
    }
    (REPO_ROOT / eval_cfg.report_markdown).write_text(render_markdown(report, context))
    LOG.info("wrote %s and %s", out_json, eval_cfg.report_markdown)


if __name__ == "__main__":
    main()
