"""Each run's outcome: a JSON report and Prometheus metrics (textfile-collector file, optional Pushgateway)."""

from __future__ import annotations

import logging
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest, push_to_gateway

from recmodel.retrain.publish import write_json_atomic, write_text_atomic

LOG = logging.getLogger(__name__)
DECISIONS = ("published", "refused", "failed")


def write_report(folder: Path, report: dict) -> Path:
    """``<folder>/<stamp>.json`` and ``<folder>/latest.json`` (both written atomically)."""
    path = folder / f"{report['stamp']}.json"
    write_json_atomic(path, report)
    write_json_atomic(folder / "latest.json", report)
    return path


def registry_for(report: dict, last_published_s: float | None, max_age_s: float | None = None) -> CollectorRegistry:
    """The run's gauges (one registry: the same series go to the textfile and to the Pushgateway)."""
    registry = CollectorRegistry()
    Gauge(
        "kairos_retrain_last_run_timestamp_seconds", "Unix time the last retraining run ended", registry=registry
    ).set(report["finished_at"])
    outcome = Gauge(
        "kairos_retrain_last_outcome",
        "1 for the decision of the last retraining run (published / refused / failed), 0 for the others",
        ["decision"],
        registry=registry,
    )
    for decision in DECISIONS:
        outcome.labels(decision).set(1.0 if report["decision"] == decision else 0.0)
    published = Gauge(
        "kairos_retrain_last_published_timestamp_seconds",
        "Unix time a retrained model was last published to the served artifact location (0: never)",
        registry=registry,
    )
    published.set(last_published_s or 0.0)
    if max_age_s is not None:
        Gauge(
            "kairos_retrain_publish_max_age_seconds",
            "Configured age of the last publication beyond which KairosModelNotPublished fires",
            registry=registry,
        ).set(max_age_s)
    durations = Gauge(
        "kairos_retrain_last_run_duration_seconds", "Wall time of the last run by phase", ["phase"], registry=registry
    )
    for phase, seconds in report.get("durations_s", {}).items():
        durations.labels(phase).set(seconds)
    metric = Gauge(
        "kairos_retrain_slice_metric",
        "Mean metric on the last run's evaluation slice, by model (candidate / served)",
        ["model", "metric"],
        registry=registry,
    )
    for model in ("candidate", "served"):
        summary = (report.get("metrics") or {}).get(model)
        if summary:
            for name in ("ndcg@10", "hr@10"):
                metric.labels(model, name).set(summary[name]["mean"])
    delta = report.get("relative_delta")
    if delta is not None:
        Gauge(
            "kairos_retrain_relative_delta",
            "(candidate - served) / served of the gate metric on the last run's slice",
            registry=registry,
        ).set(delta)
    Gauge("kairos_retrain_eval_cases", "Evaluation cases of the last run", registry=registry).set(
        (report.get("window") or {}).get("cases", 0)
    )
    Gauge("kairos_retrain_train_events", "Training events of the last run", registry=registry).set(
        (report.get("window") or {}).get("train_events", 0)
    )
    return registry


def export_metrics(
    report: dict,
    last_published_s: float | None,
    prom_file: Path | None,
    gateway: str | None,
    job: str,
    max_age_s: float | None = None,
) -> None:
    """Write the textfile (atomically) and push to the Pushgateway when configured (a push failure is logged:
    the run's outcome stands)."""
    registry = registry_for(report, last_published_s, max_age_s)
    if prom_file is not None:
        write_text_atomic(prom_file, generate_latest(registry).decode())
    if gateway:
        try:
            push_to_gateway(gateway, job=job, registry=registry, timeout=10)
        except Exception as exc:
            LOG.error("pushgateway %s: %s", gateway, exc)
            report.setdefault("warnings", []).append(f"pushgateway: {exc}")
