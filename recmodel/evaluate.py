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
interrupted evaluation resumes and other data never reuses a run; ``--fresh`` ignores the cache. With
``run_archive:`` each finished run is also kept, compact, in a committed folder, read when the cache lacks it (a
fresh clone rebuilds the report with ``--report-only``). Any dataset of
docs/data-contract.md: ``--data`` / ``--events`` / ``--items``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from recmodel.data.source import add_data_arguments, dataset_from_args
from recmodel.evaluation.plan import EvalConfig, Resolver, data_variant, experiment_config, run_key, validated_drafts
from recmodel.evaluation.progress import Progress, minutes_per_run, planned_runs
from recmodel.evaluation.quality_summary import with_related
from recmodel.evaluation.run_store import RunStore
from recmodel.evaluation.runs import WORKER, init_worker, save_run, worker_run
from recmodel.settings import REPO_ROOT, RankerPaths
from recmodel.training.config import ExperimentConfig, load_raw
from recmodel.training.experiment import prepare_dataset

LOG = logging.getLogger("recmodel.evaluate")


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
    resolver = Resolver(eval_cfg, args.config.parent)
    drafts = validated_drafts(eval_cfg, args.config.parent, names)
    max_len = max(c.data.max_len for cs in drafts.values() for c in cs)
    data_cfg = drafts[eval_cfg.reference if eval_cfg.reference in drafts else names[0]][0]
    data_cfg = data_cfg.model_copy(update={"data": data_cfg.data.model_copy(update={"max_len": max_len})})
    data = prepare_dataset(data_cfg, dataset_from_args(args, data_cfg.data.dataset), args.features)
    split, catalogue = data.split, data.catalogue
    init_worker(data.source, args.features, max_len)
    WORKER["data"][data_variant(data_cfg)] = (split, catalogue)
    LOG.info("data: %s (%s, key %s) from %s", data.source.name, data.source.format, data.key[:16], data.source.events)
    if data.source.name not in Path(eval_cfg.report_json).name:
        LOG.warning("the report %s does not name dataset %s: pass --report", eval_cfg.report_json, data.source.name)
    cache = REPO_ROOT / eval_cfg.run_cache
    store = RunStore(cache, REPO_ROOT / eval_cfg.run_archive if eval_cfg.run_archive else None)

    def job(name: str, seed: int, raw: dict) -> tuple[str, int, ExperimentConfig, Path]:
        cfg = experiment_config(raw, name, seed)
        key = run_key(cfg.model_dump(mode="json"), seed, data.key)
        return name, seed, cfg, cache / f"{name}-seed{seed}-{key}.json"

    needed = set(names)
    for name in names:
        spec = eval_cfg.spec(name)
        while spec.base is not None:
            needed.add(spec.base)
            spec = eval_cfg.spec(spec.base)
    started = time.perf_counter()
    trained: list[str] = []
    minutes, source = minutes_per_run(cache, eval_cfg.expected_run_minutes)
    progress = Progress(planned_runs(eval_cfg, names), eval_cfg.workers, minutes, source, not args.report_only)
    pool = None
    if eval_cfg.workers > 1 and not args.report_only:
        pool = ProcessPoolExecutor(
            eval_cfg.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
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
            run = store.load(path.name)
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
            if args.report_only or (store.has(path.name) and not args.fresh):
                finished.add(path)
                progress.found_cached()
                plan()
                continue
            LOG.info("training %s seed %d (%d queued)", name, seed, len(queued))
            if pool is None:
                save_run(store, path.name, worker_run(cfg, seed))
                trained.append(f"{name} seed {seed}")
                finished.add(path)
                progress.finished(name, seed)
                plan()
                continue
            in_flight[pool.submit(worker_run, cfg, seed)] = (name, seed, path)
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
            save_run(store, path.name, future.result())
            trained.append(f"{name} seed {seed}")
            finished.add(path)
            progress.finished(name, seed)
        plan()
    jobs = final_jobs
    if pool is not None:
        pool.shutdown()
    runs: dict[str, list[dict]] = {n: [] for n in names}
    missing = [f"{n} (search undecided)" for n in names if resolver.raw(n) is None]
    for name, seed, _, path in jobs:
        run = store.load(path.name)
        if run is not None:
            runs[name].append(run)
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
    try:
        report["summary"] = with_related(report["summary"], eval_cfg.related_summaries, REPO_ROOT)
    except FileNotFoundError as exc:
        LOG.warning("summary without related reports: %s", exc)
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
