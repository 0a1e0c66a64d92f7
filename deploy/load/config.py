"""The load-test config file (deploy/load/slo.yaml): task mix, workload shape and SLO thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

RPC_NAMES = ("Recommend", "AppendEvents", "UpsertItems")


class ConfigError(ValueError):
    """The config file is missing, unparsable or invalid; the message names the offending field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskMix(_Strict):
    """Relative weights of the RPCs a simulated client sends (0 disables one)."""

    recommend: int = Field(8, ge=0)
    append_events: int = Field(3, ge=0)
    upsert_items: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _some_task(self) -> Self:
        if self.recommend + self.append_events + self.upsert_items == 0:
            raise ValueError("at least one task weight must be > 0")
        return self


class Workload(_Strict):
    """Shape of the generated requests."""

    users: int = Field(943, ge=1, description="User ids are drawn from 1..users (ml-100k has 943).")
    items: int = Field(1682, ge=1, description="Item ids in events are drawn from 1..items (ml-100k: 1682).")
    recommend_k: int = Field(20, ge=1, le=1000)
    events_per_append: int = Field(5, ge=1, le=1000)
    items_per_upsert: int = Field(2, ge=1, le=100)
    image_size: int = Field(64, ge=8, le=1024, description="Side of the generated PNG images, pixels.")
    deadline_s: float = Field(2.0, gt=0, description="gRPC deadline of every call.")
    wait_min_s: float = Field(0.0, ge=0, description="Think time between a user's calls: lower bound.")
    wait_max_s: float = Field(0.05, ge=0, description="Think time between a user's calls: upper bound.")

    @model_validator(mode="after")
    def _wait_order(self) -> Self:
        if self.wait_max_s < self.wait_min_s:
            raise ValueError("wait_max_s must be >= wait_min_s")
        return self


class RpcSlo(_Strict):
    """Thresholds of one RPC; an unset threshold is not checked."""

    p50_ms: float | None = Field(None, gt=0)
    p95_ms: float | None = Field(None, gt=0)
    p99_ms: float | None = Field(None, gt=0)
    max_error_rate: float | None = Field(None, ge=0, le=1)
    min_rps: float | None = Field(None, ge=0)


class Slo(_Strict):
    """Thresholds of the whole run and per RPC."""

    min_rps: float = Field(0.0, ge=0, description="Minimum overall requests per second.")
    max_error_rate: float = Field(0.01, ge=0, le=1, description="Maximum overall failed/total.")
    p99_ms: float | None = Field(None, gt=0, description="Maximum overall p99 latency.")
    rpcs: dict[str, RpcSlo] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_rpcs(self) -> Self:
        unknown = sorted(set(self.rpcs) - set(RPC_NAMES))
        if unknown:
            raise ValueError(f"unknown RPC name(s) {unknown} in rpcs; known: {list(RPC_NAMES)}")
        return self


class LoadConfig(_Strict):
    """Everything in the load-test config file."""

    mix: TaskMix = TaskMix()
    workload: Workload = Workload()
    slo: Slo = Slo()

    def enabled_rpcs(self) -> list[str]:
        """RPC names the mix sends (weight > 0)."""
        weights = {"Recommend": self.mix.recommend, "AppendEvents": self.mix.append_events}
        weights["UpsertItems"] = self.mix.upsert_items
        return [name for name in RPC_NAMES if weights[name] > 0]

    def active_slo(self) -> Slo:
        """The SLO restricted to the RPCs the mix sends (thresholds of disabled RPCs are not checked)."""
        enabled = set(self.enabled_rpcs())
        rpcs = {name: slo for name, slo in self.slo.rpcs.items() if name in enabled}
        return self.slo.model_copy(update={"rpcs": rpcs})


def load_config(path: Path) -> LoadConfig:
    """Read and validate a load-test config file; ConfigError names the offending field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    try:
        return LoadConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
