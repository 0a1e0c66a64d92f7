"""One retraining run: catalogue -> events -> cut -> train the candidate -> score both -> publish or refuse ->
report. ``python -m recmodel.retrain --config recmodel/configs/retrain.yaml`` (``make retrain``)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from recmodel.retrain.catalogue import save_as_features, training_catalogue
from recmodel.retrain.events import EventTable, corrupted, cut_events, read_events, slice_cases
from recmodel.retrain.gate import decide, score_artifact
from recmodel.retrain.publish import (
    last_published,
    prune,
    publish,
    publish_lock,
    refuse,
    served_target,
    staging_dir,
    utc_stamp,
)
from recmodel.retrain.report import export_metrics, write_report
from recmodel.retrain.settings import RetrainSettings, load_settings
from recmodel.settings import REPO_ROOT

LOG = logging.getLogger("recmodel.retrain")
DATASET_NAME = "retrain"


def write_dataset(folder: Path, train: EventTable, item_ids: list[str]) -> Path:
    """A contract dataset (events.csv in ms, items.csv of ids only, dataset.yaml) the training CLI reads."""
    folder.mkdir(parents=True, exist_ok=True)
    train.frame().to_csv(folder / "events.csv", index=False)
    pd.DataFrame({"item_id": item_ids}, dtype=str).to_csv(folder / "items.csv", index=False)
    spec = {
        "format": "contract",
        "name": DATASET_NAME,
        "events": "events.csv",
        "items": "items.csv",
        "time_unit": "ms",
        "text_fields": [],
        "item_columns": {"item_id": "item_id", "image": None, "genres": None},
    }
    (folder / "dataset.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def train_command(settings: RetrainSettings, data: Path, features: Path, out: Path) -> list[str]:
    """``python -m recmodel.train ...`` (or ``torchrun --nproc-per-node N -m recmodel.train ...``)."""
    exp = settings.experiment
    if exp.nproc > 1:
        torchrun = Path(sys.executable).with_name("torchrun")
        head = [str(torchrun), "--standalone", "--nproc-per-node", str(exp.nproc), "-m", "recmodel.train"]
    else:
        head = [sys.executable, "-m", "recmodel.train"]
    args = ["--config", str(exp.config), "--out", str(out), "--data", str(data), "--features", str(features)]
    for flag, value in (("--epochs", exp.epochs), ("--seed", exp.seed), ("--users", exp.user_limit)):
        if value is not None:
            args += [flag, str(value)]
    return head + args


def _train(settings: RetrainSettings, command: list[str], log_path: Path) -> None:
    LOG.info("training: %s", " ".join(command))
    with open(log_path, "w") as log:
        done = subprocess.run(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=settings.experiment.timeout_s
        )
    if done.returncode != 0:
        tail = log_path.read_text()[-3000:]
        raise RuntimeError(f"training failed (exit {done.returncode}); {log_path}:\n{tail}")


def run(settings: RetrainSettings, now: float | None = None) -> dict:
    """One run (see the module docstring); returns the report (also written, with the metrics)."""
    started = time.time() if now is None else now
    stamp = utc_stamp(started)
    pub = settings.publish
    link = pub.link
    report: dict = {
        "stamp": stamp,
        "started_at": started,
        "decision": "failed",
        "reason": "",
        "margin": pub.margin,
        "metric": pub.metric,
        "link": str(link),
        "experiment": settings.experiment.model_dump(mode="json"),
        "events_source": settings.events.model_dump(mode="json"),
        "durations_s": {},
    }
    durations = report["durations_s"]
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now_ = time.perf_counter()
        durations[name] = round(now_ - clock, 3)
        clock = now_

    candidate: Path | None = None
    try:
        with publish_lock(pub.artifacts_root):
            served = served_target(link)
            base = settings.items.base_artifact or served
            report["served"] = {"artifact": str(served) if served else None}
            if base is None:
                raise FileNotFoundError(f"no base catalogue: {link} points nowhere and items.base_artifact is unset")
            feed = settings.items.redis_feed
            assembled = training_catalogue(base, settings.items.stores, (feed.url, feed.stream) if feed else None)
            catalogue = assembled.catalogue
            report["catalogue"] = {**assembled.summary(), "base_artifact": str(base)}
            phase("catalogue")

            events = read_events(settings.events)
            cut = cut_events(events, set(catalogue.item_ids), settings.window, settings.holdout)
            cases = slice_cases(cut, catalogue.item_ids, settings.holdout.max_cases, settings.holdout.seed)
            report["window"] = {**cut.summary(), "read_events": len(events), "cases": len(cases)}
            LOG.info("window: %s", report["window"])
            if not len(cut.train):
                raise ValueError("no training events before the cut")
            phase("events")

            work = settings.work_dir / stamp
            shutil.rmtree(work, ignore_errors=True)
            train_events = corrupted(cut.train, catalogue.item_ids, settings.experiment.corrupt, settings.holdout.seed)
            data = write_dataset(work / "data", train_events, catalogue.item_ids)
            save_as_features(catalogue, work / "features" / DATASET_NAME)
            candidate = staging_dir(pub.artifacts_root, f"{pub.name}-{stamp}")
            _train(settings, train_command(settings, data, work / "features", candidate), work / "train.log")
            phase("train")

            cand_score = score_artifact(candidate, catalogue, cases, settings.eval_batch_size)
            served_score = score_artifact(served, catalogue, cases, settings.eval_batch_size) if served else None
            decision, paired = decide(cand_score, served_score, pub.metric, pub.margin, settings.holdout.min_cases)
            report["metrics"] = {
                "candidate": cand_score.summary(),
                "served": served_score.summary() if served_score else None,
                "paired_difference": paired,
            }
            report["served"]["version"] = served_score.version if served_score else None
            report["candidate"] = {"version": cand_score.version}
            report["relative_delta"] = decision.relative_delta
            report["decision"], report["reason"] = decision.label, decision.reason
            phase("evaluate")

            if decision.publish:
                info = {"published_at": time.time(), "stamp": stamp, "version": cand_score.version}
                final = publish(candidate, pub.artifacts_root, link, info)
                report["candidate"]["artifact"] = str(final)
                report["published_at"] = info["published_at"]
                report["pruned"] = prune(pub.artifacts_root, pub.name, pub.keep_published, link)
                LOG.info("published %s -> %s (%s)", link, final, decision.reason)
            else:
                kept = refuse(candidate, settings.work_dir / "rejected" if pub.keep_rejected else None)
                report["candidate"]["artifact"] = str(kept) if kept else None
                LOG.warning("refused the candidate: %s; %s unchanged", decision.reason, link)
            candidate = None
            phase("publish")
            if settings.experiment.corrupt != "none":
                report["warning"] = f"trained on corrupted events ({settings.experiment.corrupt}): a gate test"
            shutil.rmtree(work, ignore_errors=True)
    except Exception as exc:
        report["decision"], report["reason"] = "failed", f"{type(exc).__name__}: {exc}"
        LOG.exception("retraining failed")
        if candidate is not None:
            refuse(candidate, None)
        raise
    finally:
        report["finished_at"] = time.time()
        durations["total"] = round(report["finished_at"] - started, 3)
        report["path"] = str(write_report(settings.report.dir, report))
        published_s = last_published(pub.artifacts_root, link)
        rep = settings.report
        export_metrics(report, published_s, rep.prom_file, rep.pushgateway, rep.job, rep.max_publish_age_s)
        if rep.pushgateway and report.get("warnings"):
            write_report(settings.report.dir, report)
    return report


def _parse_set(values: list[str]) -> dict:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected key.path=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="retrain YAML (recmodel/configs/retrain.yaml)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. publish.margin=0"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config, _parse_set(args.set))
    try:
        report = run(settings)
    except Exception:
        return 1
    print(f"{report['decision']}: {report['reason']} (report {report['path']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
