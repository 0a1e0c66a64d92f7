"""Typed settings of ``python -m recmodel.retrain --config FILE``: YAML, ``${VAR}`` replaced from the environment,
relative paths taken from the repository root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recmodel.settings import REPO_ROOT


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventsSource(_Strict):
    """Where the events come from: the user-state event log (segment files) or a contract events file."""

    event_log: Path | None = Field(None, description="directory of the user-state event log (segment files)")
    file: Path | None = Field(None, description="a contract events file (CSV / Parquet, docs/data-contract.md)")
    time_unit: Literal["s", "ms"] = Field("ms", description="file: unit of its timestamp column")

    @model_validator(mode="after")
    def _one(self) -> EventsSource:
        if (self.event_log is None) == (self.file is None):
            raise ValueError("events: set exactly one of event_log or file")
        return self


class RedisFeedSource(_Strict):
    """The ranker's Redis item stream (``KAIROS_RANKER_REDIS_URL`` / ``redis_stream``)."""

    url: str
    stream: str = "kairos:ranker:items"


class ItemsSource(_Strict):
    """The training catalogue: the served artifact's catalogue.npz, overlaid with the ranker's item store(s)."""

    stores: list[Path] = Field(
        default_factory=list,
        description="the ranker's item stores: items.sqlite files or ranker data dirs holding one; upserts win "
        "over the artifact's rows (later stores over earlier ones, newer updated_ms first), deletions remove",
    )
    redis_feed: RedisFeedSource | None = Field(
        None,
        description="the ranker replicas' item change stream (Redis), replayed from its start after the stores "
        "(Kubernetes: replicas keep their item stores on local disk, the stream is what they share)",
    )
    base_artifact: Path | None = Field(
        None, description="artifact whose catalogue.npz is the base; default: the served one (publish.current)"
    )


class WindowSettings(_Strict):
    """Which events train and evaluate: the last ``days`` before ``end``."""

    days: float | None = Field(90.0, gt=0, description="events older than this before the end are left out; null: all")
    end: Literal["latest_event", "now"] = Field(
        "latest_event", description="the window's end: the newest event (replays, old data) or the wall clock"
    )


class HoldoutSettings(_Strict):
    """The evaluation slice: the most recent events by time (the cold-start work's time split, applied to events)."""

    fraction: float = Field(0.1, gt=0, lt=1, description="share of the window's events held out (newest first)")
    days: float | None = Field(None, gt=0, description="hold out the last N days instead of a fraction")
    max_cases: int = Field(20000, ge=1, description="evaluation cases scored (a seeded sample when there are more)")
    min_cases: int = Field(50, ge=1, description="fewer cases than this: the candidate is refused (no evidence)")
    seed: int = 0


class ExperimentSettings(_Strict):
    """What is trained: an experiment YAML with overrides."""

    config: Path = Field(Path("recmodel/configs/full.yaml"), description="experiment YAML (recmodel/configs)")
    epochs: int | None = Field(None, ge=1)
    seed: int | None = None
    user_limit: int | None = Field(None, ge=0, description="train on the first N users (smoke runs, tests)")
    nproc: int = Field(1, ge=1, description=">1: torchrun --nproc-per-node N (DDP over gloo on CPU)")
    corrupt: Literal["none", "shuffle_items", "random_items"] = Field(
        "none",
        description="testing the gate only: train on events whose items are permuted across events "
        "(shuffle_items) or drawn uniformly from the catalogue (random_items)",
    )
    timeout_s: float = Field(6 * 3600, gt=0, description="training is killed after this long (the run fails)")


class PublishSettings(_Strict):
    """Where candidates go and when they are published."""

    artifacts_root: Path = Field(Path("artifacts/retrained"), description="published artifacts: <name>-<stamp>/")
    current: Path | None = Field(None, description="the symlink the ranker watches; default <artifacts_root>/current")
    name: str = Field("kairos", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="artifact folder prefix")
    metric: Literal["ndcg@10", "hr@10"] = "ndcg@10"
    margin: float = Field(
        0.02, ge=0, le=1, description="publish when candidate >= served x (1 - margin) on the evaluation slice"
    )
    keep_published: int = Field(3, ge=1, description="published folders kept (the served one always is)")
    keep_rejected: bool = Field(False, description="move refused candidates to <work_dir>/rejected/ (else deleted)")

    @property
    def link(self) -> Path:
        return self.current if self.current is not None else self.artifacts_root / "current"


class ReportSettings(_Strict):
    """Where each run's outcome is written."""

    dir: Path = Field(Path("reports/retrain"), description="<stamp>.json per run and latest.json")
    prom_file: Path | None = Field(
        Path("var/retrain/kairos_retrain.prom"), description="node-exporter textfile-collector file; null: none"
    )
    pushgateway: str | None = Field(None, description="Pushgateway address (host:port or URL); null: no push")
    job: str = Field("kairos-retrain", description="Pushgateway job label")
    max_publish_age_s: float = Field(
        2 * 86400.0,
        gt=0,
        description="exported as kairos_retrain_publish_max_age_seconds: the KairosModelNotPublished alert fires "
        "when the last publication is older than this",
    )


class RetrainSettings(_Strict):
    """Everything one retraining run needs."""

    events: EventsSource
    items: ItemsSource = ItemsSource()
    window: WindowSettings = WindowSettings()
    holdout: HoldoutSettings = HoldoutSettings()
    experiment: ExperimentSettings = ExperimentSettings()
    publish: PublishSettings = PublishSettings()
    report: ReportSettings = ReportSettings()
    work_dir: Path = Field(Path("var/retrain"), description="scratch: dataset, features, candidates in training")
    eval_batch_size: int = Field(256, ge=1)

    def resolved(self, base: Path) -> RetrainSettings:
        """A copy with every relative path made absolute against ``base``."""

        def fix(value: object) -> object:
            if isinstance(value, Path):
                return value if value.is_absolute() else (base / value).resolve()
            if isinstance(value, list):
                return [fix(v) for v in value]
            if isinstance(value, BaseModel):
                return value.model_copy(update={k: fix(getattr(value, k)) for k in type(value).model_fields})
            return value

        return fix(self)  # type: ignore[return-value]


def load_settings(path: Path, overrides: dict | None = None) -> RetrainSettings:
    """Read and validate a retrain YAML (errors name the file and the field); relative paths against REPO_ROOT."""
    raw = yaml.safe_load(os.path.expandvars(Path(path).read_text())) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: must hold a mapping")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        settings = RetrainSettings.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return settings.resolved(REPO_ROOT)
