"""Typed, environment-overridable locations used by training and evaluation."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class RankerPaths(BaseSettings):
    """Where the ranker reads data and caches item features (env prefix ``KAIROS_RANKER_``)."""

    model_config = SettingsConfigDict(env_prefix="KAIROS_RANKER_")

    data_dir: Path = Field(default=REPO_ROOT.parent / "shared" / "data" / "ml100k-mm")
    feature_cache_dir: Path = Field(default=REPO_ROOT / "var" / "cache" / "features")
    artifacts_dir: Path = Field(default=REPO_ROOT / "artifacts")
    reports_dir: Path = Field(default=REPO_ROOT / "reports" / "eval")
