"""Evaluate every model of an evaluation config over several seeds in one run and write the report.

``python -m recmodel.evaluate --config recmodel/configs/eval_ml100k.yaml``

Each (model, seed) is trained by the same harness on the same split and evaluated with full ranking on the
warm, cold, no_images, no_texts and warm_masked test splits; every run keeps its per-test-user target ranks, so
models are compared by paired bootstrap over the same users (``recmodel.evaluation.quality``). A model may carry a
``search:`` list of override dicts: each candidate trains on ``search_seed`` and the one with the best
validation NDCG@10 (history masked, warm targets) runs on every seed; the test split is never looked at. A model
may start from another model's chosen configuration (``base:``) plus ``overrides:`` (ablations of the tuned
model). Popularity and content-kNN are scored on the same test users.

Finished runs are cached under ``var/eval-runs/``, keyed by the model config, the seed and the data's content
key (events, items, images and item features; see ``recmodel.training.experiment.PreparedData``), so an
interrupted evaluation resumes and other data never reuses a run; ``--fresh`` ignores the cache. Any dataset of
docs/data-contract.md: ``--data`` / ``--events`` / ``--items``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from recmodel.data.source import ResolvedDataset, add_data_arguments, dataset_from_args
from recmodel.data.splits import Split
from recmodel.metrics import ranking_metrics
from recmodel.model.catalogue import Catalogue
from recmodel.settings import REPO_ROOT, RankerPaths
from recmodel.training.config import ExperimentConfig, _merge, load_raw
from recmodel.training.experiment import boost_and_test, prepare_dataset, with_max_len
from recmodel.training.loop import train
from recmodel.training.scoring import case_ranks, score_cases

LOG = logging.getLogger("recmodel.evaluate")
SELECTION = "valid/warm_masked/ndcg@10"  # what a search chooses on


class ModelSpec(BaseModel):
    """One row of the evaluation: an experiment YAML, or another row's chosen configuration, plus overrides."""

    model_config = ConfigDict(extra="forbid")

    config: str | None = Field(
        None,
        description="experiment YAML, relative to the evaluation config; with base: only the YAML's own keys "
        "(not what it extends) are merged over the base model's chosen config",
    )
    base: str | None = Field(None, description="another model of this evaluation: start from its chosen config")
    overrides: dict[str, Any] = Field(default_factory=dict, description="deep-merged over config / base")
    search: list[dict[str, Any]] = Field(
        default_factory=list,
        description="candidate overrides (over config / base + overrides); each trains on search_seed and the best "
        "validation NDCG@10 (history masked) runs on every seed",
    )
    seeds: list[int] | None = Field(None, description="seeds of this row (default: the evaluation's)")
    priority: int = Field(0, description="runs are trained in (priority, seed, row) order: lower first")

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if self.config is None and self.base is None:
            raise ValueError("a model needs config: (a YAML), base: (another model) or both")
        return self


class EvalConfig(BaseModel):
    """Which models (experiment YAMLs, relative to this file) to compare, over which seeds, written where."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    models: dict[str, str | ModelSpec] = Field(min_length=1)
    search_seed: int = Field(0, description="the seed every search candidate trains on")
    reference: str = Field("full", description="the model every other row is compared with (paired bootstrap)")
    baseline: str = Field("sasrec", description="the headline's baseline")
    baselines: bool = Field(True, description="score popularity and content-kNN on the same test users")
    report_json: Path = Path("reports/eval/ml100k-mm.json")
    report_markdown: Path = Path("reports/eval/ml100k-mm.md")
    report_plot: Path | None = Field(None, description="PNG of the paired differences (default: beside the .md)")
    run_cache: Path = Path("var/eval-runs")
    workers: int = Field(1, ge=1, description="training processes run side by side (each single-threaded)")
    notes: str = Field("", description="free text appended to the markdown report")

    def spec(self, name: str) -> ModelSpec:
        value = self.models[name]
        return ModelSpec(config=value) if isinstance(value, str) else value


def _run_key(model_cfg: dict, seed: int, data_key: str) -> str:
    blob = json.dumps({"cfg": model_cfg, "seed": seed, "data": data_key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _ranks(values: np.ndarray) -> list[int]:
    return [int(r) for r in values]


def _train_and_test(cfg: ExperimentConfig, seed: int, split: Split, catalogue: Catalogue) -> dict:
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


def _save_run(path: Path, run: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(run, indent=2))
    tmp.replace(path)
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


def _variant(cfg: ExperimentConfig) -> str:
    """Models whose data settings differ only in max_len share one prepared split (histories cut per model)."""
    return json.dumps(cfg.data.model_dump(mode="json", exclude={"max_len"}), sort_keys=True)


_WORKER: dict = {}


def _init_worker(source: ResolvedDataset, features: Path, max_len: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _WORKER.update(source=source, features=features, max_len=max_len, data={})


def _worker_data(cfg: ExperimentConfig) -> tuple[Split, Catalogue]:
    key = _variant(cfg)
    if key not in _WORKER["data"]:
        data_cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"max_len": _WORKER["max_len"]})})
        prepared = prepare_dataset(data_cfg, _WORKER["source"], _WORKER["features"], progress=False)
        _WORKER["data"][key] = (prepared.split, prepared.catalogue)
    return _WORKER["data"][key]


def _worker_run(cfg: ExperimentConfig, seed: int) -> dict:
    split, catalogue = _worker_data(cfg)
    return _train_and_test(cfg, seed, split, catalogue)


class _Resolver:
    """Raw configs of every model: YAML or another model's chosen config, overrides, search candidates."""

    def __init__(self, eval_cfg: EvalConfig, folder: Path) -> None:
        self.eval_cfg, self.folder = eval_cfg, folder
        self.chosen: dict[str, int] = {}  # index of each searched model's chosen candidate

    def raw(self, name: str) -> dict | None:
        """The model's configuration (its chosen candidate's), or None while its search is undecided."""
        spec = self.eval_cfg.spec(name)
        base = self.base_raw(name)
        if base is None:
            return None
        if not spec.search:
            return base
        if name not in self.chosen:
            return None
        return _merge(base, spec.search[self.chosen[name]])

    def base_raw(self, name: str) -> dict | None:
        spec = self.eval_cfg.spec(name)
        if spec.base is None:
            start = load_raw(self.folder / str(spec.config))
        else:
            if spec.base not in self.eval_cfg.models:
                raise SystemExit(f"models.{name}.base: unknown model {spec.base!r}")
            chosen = self.raw(spec.base)
            if chosen is None:
                return None
            start = chosen
            if spec.config is not None:
                start = _merge(start, own_keys(self.folder / spec.config))
        return _merge(start, spec.overrides)

    def candidates(self, name: str) -> list[dict]:
        base = self.base_raw(name)
        return [] if base is None else [_merge(base, c) for c in self.eval_cfg.spec(name).search]


def own_keys(path: Path) -> dict[str, Any]:
    """A YAML's own settings: without ``extends`` (what it extends is the base model here) and its name."""
    raw = yaml.safe_load(path.read_text()) or {}
    return {k: v for k, v in raw.items() if k not in ("extends", "name")}


def _experiment(raw: dict, name: str, seed: int) -> ExperimentConfig:
    cfg = ExperimentConfig.model_validate(raw)
    return cfg.model_copy(
        update={"name": name, "train": cfg.train.model_copy(update={"seed": seed, "progress": False})}
    )


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    paths = RankerPaths()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "recmodel/configs/eval_ml100k.yaml")
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
            "report_plot": report.parent / f"{report.name}.png",
        }
        eval_cfg = eval_cfg.model_copy(update=update)
    names = [m.strip() for m in args.models.split(",") if m.strip()] or list(eval_cfg.models)
    unknown = [n for n in names if n not in eval_cfg.models]
    if unknown:
        raise SystemExit(f"--models: unknown {unknown}; known {list(eval_cfg.models)}")
    resolver = _Resolver(eval_cfg, args.config.parent)
    # every configuration this evaluation may train, validated up front (errors name the model)
    drafts: dict[str, list[ExperimentConfig]] = {}
    for name in eval_cfg.models:
        spec = eval_cfg.spec(name)
        chain = [name]
        while (up := eval_cfg.spec(chain[-1]).base) is not None:
            if up not in eval_cfg.models or len(chain) > len(eval_cfg.models):
                raise SystemExit(f"models.{chain[-1]}.base: unknown or circular")
            chain.append(up)
        start = load_raw(args.config.parent / str(eval_cfg.spec(chain[-1]).config))
        for link in reversed(chain[:-1]):  # what each model in between adds (its search left out)
            link_spec = eval_cfg.spec(link)
            if link_spec.config is not None:
                start = _merge(start, own_keys(args.config.parent / link_spec.config))
            start = _merge(start, link_spec.overrides)
        try:
            if spec.base is None:
                start = _merge(start, spec.overrides)
            raws = [start] + [_merge(start, c) for c in spec.search]
            drafts[name] = [_experiment(r, name, 0) for r in raws]
        except ValueError as exc:
            raise SystemExit(f"models.{name}: {exc}") from exc
    variants = {_variant(c) for cs in drafts.values() for c in cs}
    base_variant = _variant(drafts[eval_cfg.reference if eval_cfg.reference in drafts else names[0]][0])
    if any(
        json.loads(v) | {"time_shuffle": False} != json.loads(base_variant) | {"time_shuffle": False} for v in variants
    ):
        raise SystemExit(
            "models: every model of one evaluation must use the same data settings (max_len and time_shuffle aside)"
        )
    max_len = max(c.data.max_len for cs in drafts.values() for c in cs)
    data_cfg = drafts[eval_cfg.reference if eval_cfg.reference in drafts else names[0]][0]
    data_cfg = data_cfg.model_copy(update={"data": data_cfg.data.model_copy(update={"max_len": max_len})})
    data = prepare_dataset(data_cfg, dataset_from_args(args, data_cfg.data.dataset), args.features)
    split, catalogue = data.split, data.catalogue
    _init_worker(data.source, args.features, max_len)
    _WORKER["data"][_variant(data_cfg)] = (split, catalogue)
    LOG.info("data: %s (%s, key %s) from %s", data.source.name, data.source.format, data.key[:16], data.source.events)
    if data.source.name not in Path(eval_cfg.report_json).name:
        LOG.warning("the report %s does not name dataset %s: pass --report", eval_cfg.report_json, data.source.name)
    cache = REPO_ROOT / eval_cfg.run_cache
    cache.mkdir(parents=True, exist_ok=True)

    def job(name: str, seed: int, raw: dict) -> tuple[str, int, ExperimentConfig, Path]:
        cfg = _experiment(raw, name, seed)
        key = _run_key(cfg.model_dump(mode="json"), seed, data.key)
        return name, seed, cfg, cache / f"{name}-seed{seed}-{key}.json"

    needed = set(names)
    for name in names:
        spec = eval_cfg.spec(name)
        while spec.base is not None:
            needed.add(spec.base)
            spec = eval_cfg.spec(spec.base)
    started = time.perf_counter()
    trained: list[str] = []
    pool = None
    if eval_cfg.workers > 1 and not args.report_only:
        pool = ProcessPoolExecutor(
            eval_cfg.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(data.source, args.features, max_len),
        )

    order = {n: i for i, n in enumerate(eval_cfg.models)}
    seed_rank = {s: i for i, s in enumerate(eval_cfg.seeds)}

    def rank(item: tuple[str, int, ExperimentConfig, Path], searching: bool) -> tuple:
        name, seed = item[0], item[1]
        # within a priority: search candidates first (everything after them may wait on their choice), then
        # seed-major, then the config's row order
        return (
            eval_cfg.spec(name).priority,
            0 if searching else 1,
            seed_rank.get(seed, len(seed_rank) + seed),
            order[name],
        )

    search: dict[str, list[dict]] = {}
    queued: list[tuple[tuple, tuple[str, int, ExperimentConfig, Path]]] = []
    planned: set[str] = set()  # models whose seed runs are queued
    searching: set[str] = set()  # models whose candidates are queued
    finished: set[Path] = set()
    candidate_jobs: dict[str, list[tuple[str, int, ExperimentConfig, Path]]] = {}
    final_jobs: list[tuple[str, int, ExperimentConfig, Path]] = []

    def decide(n: str) -> None:
        rows: list[dict[str, Any]] = []
        for i, (_, _, _, path) in enumerate(candidate_jobs[n]):
            run = json.loads(path.read_text()) if path.exists() else None
            rows.append(
                {
                    "candidate": i,
                    "overrides": eval_cfg.spec(n).search[i],
                    "valid_masked_ndcg@10": run["valid"]["warm_masked"]["ndcg@10"] if run else None,
                    "valid_masked_hr@10": run["valid"]["warm_masked"]["hr@10"] if run else None,
                    "train_seconds": run["train_seconds"] if run else None,
                    "path": path.name,
                }
            )
        scored = [r for r in rows if r["valid_masked_ndcg@10"] is not None]
        if len(scored) == len(rows):
            best = max(scored, key=lambda r: (float(r["valid_masked_ndcg@10"]), -int(r["candidate"])))
            resolver.chosen[n] = int(best["candidate"])
            for r in rows:
                r["chosen"] = r["candidate"] == resolver.chosen[n]
            LOG.info("%s: candidate %d chosen on validation (%s)", n, resolver.chosen[n], best["overrides"])
        else:
            LOG.warning("%s: search incomplete (%d of %d candidates): left out", n, len(scored), len(rows))
        search[n] = rows

    def plan() -> None:
        """Queue what became known: searches whose base is decided, seed runs of decided models."""
        changed = True
        while changed:
            changed = False
            for n in eval_cfg.models:
                if n not in needed:
                    continue
                spec = eval_cfg.spec(n)
                if spec.search and n not in searching and resolver.base_raw(n) is not None:
                    searching.add(n)
                    candidate_jobs[n] = [job(n, eval_cfg.search_seed, raw) for raw in resolver.candidates(n)]
                    queued.extend((rank(j, True), j) for j in candidate_jobs[n])
                    changed = True
                if n in searching and n not in search and all(j[3] in finished for j in candidate_jobs[n]):
                    decide(n)
                    changed = True
                if n in names and n not in planned and (not spec.search or n in search):
                    raw = resolver.raw(n)
                    if raw is None:  # built on a model whose search is still running
                        continue
                    planned.add(n)
                    changed = True
                    for seed in spec.seeds or eval_cfg.seeds:
                        j = job(n, seed, raw)
                        final_jobs.append(j)
                        queued.append((rank(j, False), j))
        queued.sort(key=lambda q: q[0])

    in_flight: dict = {}

    def start_next() -> bool:
        while queued:
            _, (name, seed, cfg, path) = queued.pop(0)
            if path in finished or any(path == f[2] for f in in_flight.values()):
                continue
            if args.report_only or (path.exists() and not args.fresh):
                finished.add(path)
                plan()
                continue
            LOG.info("training %s seed %d (%d queued)", name, seed, len(queued))
            if pool is None:
                _save_run(path, _worker_run(cfg, seed))
                trained.append(f"{name} seed {seed}")
                finished.add(path)
                plan()
                continue
            in_flight[pool.submit(_worker_run, cfg, seed)] = (name, seed, path)
            return True
        return False

    plan()
    while True:
        while len(in_flight) < eval_cfg.workers and start_next():
            pass
        if not in_flight:
            break
        done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
        for future in done:
            name, seed, path = in_flight.pop(future)
            _save_run(path, future.result())
            trained.append(f"{name} seed {seed}")
            finished.add(path)
        plan()
    jobs = final_jobs
    if pool is not None:
        pool.shutdown()
    runs: dict[str, list[dict]] = {n: [] for n in names}
    missing = [f"{n} (search undecided)" for n in names if resolver.raw(n) is None]
    for name, seed, _, path in jobs:
        if path.exists():
            runs[name].append(json.loads(path.read_text()))
        else:
            missing.append(f"{name} seed {seed}")
    names = [n for n in names if runs[n]]

    from recmodel.evaluation.quality import assemble_report

    plot_path = REPO_ROOT / (eval_cfg.report_plot or eval_cfg.report_markdown.with_suffix(".png"))
    report, markdown, plot = assemble_report(
        runs={n: runs[n] for n in names},
        split=split,
        catalogue=catalogue,
        eval_cfg=eval_cfg,
        search=search,
        baselines=eval_cfg.baselines,
        context={
            "trained": trained,
            "wall_seconds": time.perf_counter() - started if trained else None,
            "missing": missing,
            "plot": plot_path.name,
        },
    )
    out_json = REPO_ROOT / eval_cfg.report_json
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(report, indent=2))
    out_md = REPO_ROOT / eval_cfg.report_markdown
    out_md.write_text(markdown)
    if plot is not None:
        plot(plot_path)
    LOG.info("wrote %s, %s and %s", out_json, out_md, plot_path)


if __name__ == "__main__":
    main()
