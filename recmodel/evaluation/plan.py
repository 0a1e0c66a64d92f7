"""What an evaluation trains: its config (models, seeds, searches, bases), each model's resolved experiment
configuration, and the keys that identify a run in the cache (``python -m recmodel.evaluate``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from recmodel.training.config import ExperimentConfig, _merge, load_raw

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
    run_archive: Path | None = Field(
        None,
        description="committed folder of compact run records (recmodel/evaluation/run_store.py): read when the "
        "cache lacks a run, written for every finished run, so a fresh clone rebuilds the report and resumes",
    )
    workers: int = Field(1, ge=1, description="training processes run side by side (each single-threaded)")
    expected_run_minutes: float = Field(
        10.0, gt=0, description="minutes one training run takes, for the up-front estimate on an empty run cache"
    )
    notes: str = Field("", description="free text appended to the markdown report")
    related_summaries: dict[str, Path] = Field(
        default_factory=dict,
        description="tag -> another evaluation's report JSON on the same data: its summary's ablation_* keys join "
        "this summary as ablation_<tag>_<row>_* (each against its own report's reference)",
    )

    @model_validator(mode="after")
    def _plain_tags(self) -> EvalConfig:
        for tag in self.related_summaries:
            if not tag.isidentifier():
                raise ValueError(f"related_summaries: tag {tag!r} must be a plain name (letters, digits, _)")
        return self

    def spec(self, name: str) -> ModelSpec:
        value = self.models[name]
        return ModelSpec(config=value) if isinstance(value, str) else value


class Resolver:
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


def experiment_config(raw: dict, name: str, seed: int) -> ExperimentConfig:
    cfg = ExperimentConfig.model_validate(raw)
    return cfg.model_copy(
        update={"name": name, "train": cfg.train.model_copy(update={"seed": seed, "progress": False})}
    )


def run_key(model_cfg: dict, seed: int, data_key: str) -> str:
    """The run cache's key of one (configuration, seed) on one dataset."""
    blob = json.dumps({"cfg": model_cfg, "seed": seed, "data": data_key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def data_variant(cfg: ExperimentConfig) -> str:
    """Models whose data settings differ only in max_len share one prepared split (histories cut per model)."""
    return json.dumps(cfg.data.model_dump(mode="json", exclude={"max_len"}), sort_keys=True)


def validated_drafts(eval_cfg: EvalConfig, folder: Path, names: list[str]) -> dict[str, list[ExperimentConfig]]:
    """Every configuration this evaluation may train (each model's and its search candidates'), validated up front:
    errors name the model; every model must use the same data settings (max_len, time_shuffle and image_fraction
    aside: they change each user's inputs, not the split or its test users)."""
    drafts: dict[str, list[ExperimentConfig]] = {}
    for name in eval_cfg.models:
        spec = eval_cfg.spec(name)
        chain = [name]
        while (up := eval_cfg.spec(chain[-1]).base) is not None:
            if up not in eval_cfg.models or len(chain) > len(eval_cfg.models):
                raise SystemExit(f"models.{chain[-1]}.base: unknown or circular")
            chain.append(up)
        start = load_raw(folder / str(eval_cfg.spec(chain[-1]).config))
        for link in reversed(chain[:-1]):  # what each model in between adds (its search left out)
            link_spec = eval_cfg.spec(link)
            if link_spec.config is not None:
                start = _merge(start, own_keys(folder / link_spec.config))
            start = _merge(start, link_spec.overrides)
        try:
            if spec.base is None:
                start = _merge(start, spec.overrides)
            raws = [start] + [_merge(start, c) for c in spec.search]
            drafts[name] = [experiment_config(r, name, 0) for r in raws]
        except ValueError as exc:
            raise SystemExit(f"models.{name}: {exc}") from exc
    variants = {data_variant(c) for cs in drafts.values() for c in cs}
    base_variant = data_variant(drafts[eval_cfg.reference if eval_cfg.reference in drafts else names[0]][0])
    free = {"time_shuffle": False, "image_fraction": 1.0}
    if any(json.loads(v) | free != json.loads(base_variant) | free for v in variants):
        raise SystemExit(
            "models: every model of one evaluation must use the same data settings (max_len, time_shuffle and "
            "image_fraction aside)"
        )
    return drafts
