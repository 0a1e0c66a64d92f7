"""The load-test config file: the shipped one loads; bad files get errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.load.config import ConfigError, load_config
from deploy.load.settings import DEFAULT_CONFIG


def test_shipped_config_loads_with_every_rpc_enabled_and_thresholds_set() -> None:
    config = load_config(DEFAULT_CONFIG)
    assert config.enabled_rpcs() == ["Recommend", "AppendEvents", "UpsertItems"]
    assert config.mix.recommend > config.mix.append_events > config.mix.upsert_items > 0
    assert {name for name, slo in config.slo.rpcs.items() if slo.p99_ms} == set(config.enabled_rpcs())
    assert 0 < config.slo.max_error_rate < 1 and config.slo.min_rps > 0


def test_active_slo_drops_thresholds_of_disabled_rpcs(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text("mix: {recommend: 0, append_events: 1, upsert_items: 0}\nslo: {rpcs: {Recommend: {p99_ms: 5}}}\n")
    config = load_config(path)
    assert config.enabled_rpcs() == ["AppendEvents"]
    assert config.active_slo().rpcs == {}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("slo: {rpcs: {Recommend: {p99_ms: -1}}}", "slo.rpcs.Recommend.p99_ms"),
        ("slo: {max_error_rate: 2}", "slo.max_error_rate"),
        ("slo: {rpcs: {Recomend: {p99_ms: 5}}}", "Recomend"),
        ("mix: {recommend: 0, append_events: 0, upsert_items: 0}", "mix"),
        ("workload: {wait_min_s: 1, wait_max_s: 0.5}", "wait_max_s"),
        ("workload: {userz: 5}", "workload.userz"),
        ("- just\n- a list", "top level must be a mapping"),
        ("slo: [unclosed", "not valid YAML"),
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(path)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
