"""Settings precedence and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from kairos.service.deadlines import BudgetExhausted, downstream_timeout
from kairos.service.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KAIROS_DEMO_", extra="forbid", validate_default=True)
    answer: int = 1


def test_precedence_defaults_file_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text("port: 6000\nmetrics_port: 6001\nanswer: 2\n")
    assert DemoSettings.load().port == 50051
    from_file = DemoSettings.load(config)
    assert (from_file.port, from_file.metrics_port, from_file.answer) == (6000, 6001, 2)
    monkeypatch.setenv("KAIROS_DEMO_PORT", "7000")
    from_env = DemoSettings.load(config)
    assert (from_env.port, from_env.answer) == (7000, 2)
    assert DemoSettings.load(config, port=8000, answer=None).port == 8000


def test_unknown_keys_and_bad_values_are_rejected_by_name(tmp_path: Path) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text("prot: 6000\n")
    with pytest.raises(ValidationError, match="prot"):
        DemoSettings.load(config)
    with pytest.raises(ValidationError, match="port"):
        DemoSettings.load(port=70000)
    with pytest.raises(ValidationError, match="tls_cert_file and tls_key_file"):
        DemoSettings.load(tls_cert_file=tmp_path / "cert.pem")
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        DemoSettings.load(tmp_path / "missing.yaml")


class _Context:
    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining


def test_downstream_timeout_passes_on_the_remaining_budget() -> None:
    assert downstream_timeout(_Context(None), cap_s=0.5) == 0.5
    assert downstream_timeout(_Context(0.1), cap_s=0.5, reserve_s=0.01) == pytest.approx(0.09)
    assert downstream_timeout(_Context(2.0), cap_s=0.5) == 0.5
    with pytest.raises(BudgetExhausted):
        downstream_timeout(_Context(0.001), cap_s=0.5, reserve_s=0.002)
