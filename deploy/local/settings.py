"""Settings of the local suite and its demo (environment prefix KAIROS_SUITE_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class SuiteSettings(BaseSettings):
    """Where the suite keeps its state, which ports it uses and what the demo shows."""

    model_config = SettingsConfigDict(env_prefix="KAIROS_SUITE_", extra="forbid")

    state_dir: Path = Field(REPO_ROOT / "var" / "suite", description="Logs, pid files and service data.")
    data_dir: Path = Field(REPO_ROOT.parent / "shared" / "data" / "ml100k-mm", description="ml100k-mm folder.")
    fallback_data_dir: Path = Field(REPO_ROOT / "var" / "data" / "ml100k", description="recbole fallback copy.")
    artifact_dir: Path = Field(REPO_ROOT / "artifacts" / "ml100k-full", description="Model artifact to serve.")
    train_config: Path = Field(REPO_ROOT / "recmodel" / "configs" / "full.yaml", description="Used when training.")
    host: str = "127.0.0.1"
    user_state_port: int = 50051
    user_state_metrics_port: int = 9100
    ranker_port: int = 50052
    ranker_metrics_port: int = 9101
    triton_http_port: int = 8000
    triton_grpc_port: int = 8001
    triton_metrics_port: int = 8002
    start_timeout_s: float = Field(300.0, description="Max wait for every service to report SERVING.")
    stop_timeout_s: float = Field(30.0, description="Max wait after SIGTERM before SIGKILL.")
    demo_users: list[str] = Field(["1", "42", "314"], description="Users whose recommendations the demo prints.")
    demo_k: int = 10

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pid_dir(self) -> Path:
        return self.state_dir / "pids"
