"""Cold-start evaluation under the field's protocol: ``python -m recmodel.evaluation.cold_start`` (``make cold-start``).

Two cold splits (``time``: the newest 10% of items by first interaction; ``random``: 10% of items, several split
seeds), every configured model trained on each and every baseline scored on the same test cases; three
measurements per split (cold-only, cold users in full ranking, exposure in warm users' top 10) with bootstrap
intervals over test users, and paired tests against the best content-kNN. Finished runs are cached under
``var/eval-runs/cold-start`` keyed by the model config, the split, the seed and the data's content key (events,
items, images and item features: ``recmodel.training.experiment.PreparedData``). Any dataset of
docs/data-contract.md: ``--data`` / ``--events`` / ``--items``.
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

from recmodel.data.source import ResolvedDataset, add_data_arguments, dataset_from_args
from recmodel.evaluation.cold_start_plot import plot_cold_start
from recmodel.evaluation.cold_start_report import aggregate, render_markdown
from recmodel.evaluation.cold_start_runs import (
    RunSpec,
    baseline_results,
    describe_split,
    model_results,
    prepare_run,
    split_config,
)
from recmodel.evaluation.run_store import RunStore
from recmodel.settings import REPO_ROOT, RankerPaths
from recmodel.training.config import ExperimentConfig, load_experiment, load_raw
from recmodel.training.experiment import prepare_dataset

LOG = logging.getLogger("recmodel.evaluation.cold_start")
BASELINES = "baselines"


class SplitPlan(BaseModel):
    """How one cold split kind is drawn and which seeds it is run with."""

    model_config = ConfigDict(extra="forbid")

    cold_by: str = Field(pattern="^(random|time)$")
    split_seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    train_seeds: list[int] | None = Field(
        None, description="training seeds per split seed; None: the split seed itself (one run per split)"
    )


class ColdStartConfig(BaseModel):
    """Models (experiment YAMLs relative to this file), split plans, outputs."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, str] = Field(min_length=1)
    primary: str = Field("full", description="the model the summary and targets speak about")
    splits: dict[str, SplitPlan] = Field(min_length=1)
    report_json: Path = Path("reports/eval/cold-start.json")
    report_markdown: Path = Path("reports/eval/cold-start.md")
    run_cache: Path = Path("var/eval-runs/cold-start")
    run_archive: Path | None = Field(
        None, description="committed folder of the finished runs, gzipped (recmodel/evaluation/run_store.py)"
    )
    workers: int = Field(2, ge=1)
    minutes_per_training: float = Field(9.0, gt=0, description="for the duration printed up front")
    notes: str = ""


def plan_runs(cfg: ColdStartConfig) -> list[RunSpec]:
    """Every (split kind, split seed, training seed) of the config, in a stable order."""
    specs = []
    for name, plan in cfg.splits.items():
        for split_seed in plan.split_seeds:
            for train_seed in plan.train_seeds if plan.train_seeds is not None else [split_seed]:
                specs.append(RunSpec(name, plan.cold_by, split_seed, train_seed))
    return specs


def _key(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _job(kind: str, spec: RunSpec, cfg: ExperimentConfig, data: ResolvedDataset, features: Path) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    split, catalogue = prepare_run(cfg, spec, data, features)
    if kind == BASELINES:
        out = {"systems": baseline_results(split, catalogue, spec.split_seed)}
    else:
        out = {"systems": model_results(split_config(cfg, spec), split, catalogue, kind)}
    return out | {"split": describe_split(split), "seconds": time.perf_counter() - started}


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    paths = RankerPaths()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "recmodel/configs/eval_cold_start.yaml")
    parser.add_argument("--features", type=Path, default=paths.feature_cache_dir)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--models", default="", help="comma-separated subset of the config's models")
    parser.add_argument("--fresh", action="store_true", help="recompute every run, ignoring cached results")
    parser.add_argument("--report-only", action="store_true", help="write the report from cached runs only")
    parser.add_argument("--epochs", type=int, default=None, help="override every model's epochs (smoke runs)")
    parser.add_argument("--users", type=int, default=None, help="first N users only (smoke runs, tests)")
    add_data_arguments(parser, paths.data_dir)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    cfg = ColdStartConfig.model_validate(load_raw(args.config))
    workers = max(1, args.workers or cfg.workers)
    names = [m.strip() for m in args.models.split(",") if m.strip()] or list(cfg.models)
    unknown = [n for n in names if n not in cfg.models]
    if unknown:
        raise SystemExit(f"--models: unknown {unknown}; known {list(cfg.models)}")
    overrides: dict = {"train": {}, "data": {}}
    if args.epochs is not None:
        overrides["train"]["epochs"] = args.epochs
    if args.users is not None:
        overrides["data"]["user_limit"] = args.users
    experiments = {n: load_experiment(args.config.parent / cfg.models[n], overrides) for n in cfg.models}
    experiments = {n: e.model_copy(update={"name": n}) for n, e in experiments.items()}
    base = experiments[cfg.primary if cfg.primary in experiments else names[0]]
    # the features live where every training reads them: make sure they exist before workers start
    prepared = prepare_dataset(
        split_config(base, plan_runs(cfg)[0]), dataset_from_args(args, base.data.dataset), args.features, progress=False
    )
    source, fingerprint = prepared.source, prepared.key[:16]
    LOG.info("data: %s (%s, key %s) from %s", source.name, source.format, fingerprint, source.events)
    cache = REPO_ROOT / cfg.run_cache
    store = RunStore(cache, REPO_ROOT / cfg.run_archive if cfg.run_archive else None)

    jobs: list[tuple[str, RunSpec, ExperimentConfig, Path]] = []
    seen_splits: set[tuple[str, int]] = set()
    for spec in plan_runs(cfg):
        if (spec.cold_by, spec.split_seed) not in seen_splits:
            seen_splits.add((spec.cold_by, spec.split_seed))
            key = _key({"kind": BASELINES, "cold_by": spec.cold_by, "split": spec.split_seed, "data": fingerprint})
            jobs.append((BASELINES, spec, base, cache / f"{BASELINES}-{spec.cold_by}{spec.split_seed}-{key}.json"))
        for name in names:
            run_cfg = split_config(experiments[name], spec)
            key = _key({"cfg": run_cfg.model_dump(mode="json"), "data": fingerprint})
            jobs.append((name, spec, experiments[name], cache / f"{name}-{spec.label}-{key}.json"))
    todo = [] if args.report_only else [j for j in jobs if args.fresh or not store.has(j[3].name)]
    trainings = sum(1 for j in todo if j[0] != BASELINES)
    expected = trainings * cfg.minutes_per_training / workers
    LOG.info(
        "%d jobs (%d cached); %d trainings to run on %d worker(s): expect about %.0f min",
        len(jobs),
        len(jobs) - len(todo),
        trainings,
        workers,
        expected,
    )
    started = time.perf_counter()
    done = 0
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            pool.submit(_job, kind, spec, c, source, args.features): (kind, spec, path) for kind, spec, c, path in todo
        }
        for future in as_completed(futures):
            kind, spec, path = futures[future]
            result = future.result() | {"kind": kind, "spec": spec.__dict__}
            store.save(path.name, result)
            done += 1
            LOG.info(
                "[%d/%d] %s on %s done in %.0fs (%.1f min elapsed)",
                done,
                len(todo),
                kind,
                spec.label,
                result["seconds"],
                (time.perf_counter() - started) / 60,
            )
    results = [r for *_, path in jobs if (r := store.load(path.name)) is not None]
    report = aggregate(results, cfg.primary, [s for s in cfg.splits])
    report["notes"] = cfg.notes
    out_json = REPO_ROOT / cfg.report_json
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(report, indent=2))
    markdown = REPO_ROOT / cfg.report_markdown
    markdown.write_text(render_markdown(report))
    plot_cold_start(report, markdown.with_suffix(".png"))
    LOG.info("wrote %s, %s and its .png", out_json, markdown)


if __name__ == "__main__":
    main()
