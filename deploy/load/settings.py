"""Where the load goes and how to authenticate: environment settings (KAIROS_LOAD_...) of the locustfile."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CONFIG = Path(__file__).resolve().parent / "slo.yaml"


class LoadSettings(BaseSettings):
    """Targets and credentials of the load test; every locust process (master and workers) reads them."""

    model_config = SettingsConfigDict(env_prefix="KAIROS_LOAD_", extra="ignore", env_ignore_empty=True)

    ranker_address: str | None = Field(None, description="host:port of the Ranker (Recommend, UpsertItems).")
    user_state_address: str | None = Field(None, description="host:port of UserState (AppendEvents).")
    config: Path = Field(DEFAULT_CONFIG, description="Load-test config file: task mix, workload, SLO.")
    auth_token_file: Path | None = Field(None, description="File holding the bearer token sent with each call.")
    tls_ca_file: Path | None = Field(None, description="PEM CA bundle; when set, channels use TLS.")

    def bearer_metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata carrying the bearer token, or none."""
        if self.auth_token_file is None:
            return ()
        token = self.auth_token_file.read_text().strip()
        if not token:
            raise ValueError(f"auth_token_file {self.auth_token_file} is empty")
        return (("authorization", f"Bearer {token}"),)
