"""Typed settings shared by every service: environment variables, an optional YAML file, CLI overrides."""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("kairos_config_file", default=None)


class ServiceSettings(BaseSettings):
    """Server settings every Kairos service has. Subclasses set `env_prefix` (e.g. KAIROS_USER_STATE_).

    Precedence, highest first: explicit overrides (CLI flags), environment variables, the YAML config file,
    defaults. Unknown keys in the file are an error, so a typo never silently falls back to a default.
    """

    model_config = SettingsConfigDict(extra="forbid", validate_default=True, env_ignore_empty=True)

    host: str = Field("127.0.0.1", description="Interface the gRPC server binds to ('0.0.0.0' in containers).")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free port.")
    metrics_port: int | None = Field(
        9100, ge=0, le=65535, description="Prometheus /metrics HTTP port; 0 picks a free port; null disables."
    )
    max_concurrent_rpcs: int = Field(
        256, ge=1, description="In-flight RPCs beyond this are answered RESOURCE_EXHAUSTED at once."
    )
    grace_period_s: float = Field(10.0, ge=0, description="On SIGTERM, time in-flight RPCs get to finish.")
    shutdown_delay_s: float = Field(
        0.0, ge=0, description="On SIGTERM, time spent NOT_SERVING (still answering) before refusing calls."
    )
    max_message_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Max gRPC message size, both ways.")
    tls_cert_file: Path | None = Field(None, description="PEM server certificate; enables TLS with the key.")
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        None, description="PEM CA bundle; when set, clients must present a certificate it signed (mTLS)."
    )
    auth_tokens_file: Path | None = Field(
        None,
        description="File of accepted bearer tokens, one per line, each optionally followed by its scopes "
        "(recommend, events:read, events:write, items:write, admin; a bare token has all); when set, every RPC "
        "but health needs a token with its scope.",
    )
    gc_freeze: bool = Field(
        True,
        description="Freeze the start-up heap (gc.freeze) once serving, so full garbage collections scan only "
        "request garbage (a full collection over a loaded model measured up to 110 ms, the p99 of the ranker).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Least severe level logged.")
    log_format: Literal["json", "text"] = Field("json", description="json: one JSON object per line (structured).")

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file.get()
        if config_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Self:
        """Build settings from defaults < `config_file` (YAML) < environment < non-None `overrides`."""
        if config_file is not None and not Path(config_file).is_file():
            raise FileNotFoundError(f"config file not found: {config_file}")
        token = _config_file.set(Path(config_file) if config_file is not None else None)
        try:
            return cls(**{key: value for key, value in overrides.items() if value is not None})
        finally:
            _config_file.reset(token)
