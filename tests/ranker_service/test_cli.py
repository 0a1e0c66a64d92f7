"""`python -m ranker serve` settings: defaults < YAML < environment < flags; bad settings exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from ranker.service.cli import load_settings, main, parser
from ranker.service.settings import RankerSettings
from tests.support.ports import free_port


def test_flags_override_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "ranker.yaml"
    config.write_text("max_k: 50\nbatch_window_ms: 5\nuser_state:\n  address: file:1\nindex:\n  ann_nprobe: 8\n")
    monkeypatch.setenv("KAIROS_RANKER_BATCH_WINDOW_MS", "3")
    args = parser().parse_args(
        ["serve", "--config", str(config), "--user-state", "flag:2", "--triton", "triton:8001", "--port", "0"]
    )
    s = load_settings(args)
    assert (s.max_k, s.batch_window_ms, s.user_state.address, s.encoders.triton_url, s.port) == (
        50,
        3.0,
        "flag:2",
        "triton:8001",
        0,
    )
    assert s.index_config().ann_nprobe == 8 and s.metrics_port == 9101
    in_process = load_settings(parser().parse_args(["serve", "--in-process"]))
    assert in_process.encoders.triton_url is None and in_process.port == 50052


def test_bad_settings_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ranker.yaml"
    config.write_text("max_kk: 5\n")
    assert main(["serve", "--config", str(config)]) == 2
    assert "max_kk" in capsys.readouterr().err
    assert main(["serve", "--redis-url", "http://nope"]) == 2
    assert main(["serve", "--max-batch-size", "0"]) == 2


def test_missing_artifact_exits_3(tmp_path: Path) -> None:
    assert main(["serve", "--artifact", str(tmp_path / "absent"), "--port", "0", "--metrics-port", "0"]) == 3


def test_unreachable_redis_at_start_exits_3(tmp_path: Path, artifact: Path) -> None:
    args = ["serve", "--artifact", str(artifact), "--port", "0", "--metrics-port", "0", "--data-dir", str(tmp_path)]
    assert main([*args, "--redis-url", f"redis://127.0.0.1:{free_port()}/0", "--in-process"]) == 3


def test_user_state_channel_takes_tls_token_and_balancing_from_the_deploy_env_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {name: tmp_path / name for name in ("ca.pem", "client.pem", "client.key", "token")}
    for path in files.values():
        path.write_text("x\n")
    deploy_env = Path(__file__).resolve().parents[2] / "deploy/k8s/base/config/ranker.env"
    names = {line.split("=")[0] for line in deploy_env.read_text().splitlines() if "=" in line}
    assert "KAIROS_RANKER_USER_STATE__AUTH_TOKEN_FILE" in names
    monkeypatch.setenv("KAIROS_RANKER_USER_STATE__ADDRESS", "dns:///kairos-user-state-headless:50051")
    monkeypatch.setenv("KAIROS_RANKER_USER_STATE__TLS", "true")
    monkeypatch.setenv("KAIROS_RANKER_USER_STATE__TLS_CA_FILE", str(files["ca.pem"]))
    monkeypatch.setenv("KAIROS_RANKER_USER_STATE__TLS_CERT_FILE", str(files["client.pem"]))
    monkeypatch.setenv("KAIROS_RANKER_USER_STATE__TLS_KEY_FILE", str(files["client.key"]))
    monkeypatch.setenv("KAIROS_RANKER_USER_STATE__AUTH_TOKEN_FILE", str(files["token"]))
    channel = load_settings(parser().parse_args(["serve"])).user_state_channel()
    assert (channel.address, channel.lb_policy, channel.tls) == (
        "dns:///kairos-user-state-headless:50051",
        "round_robin",
        True,
    )
    assert (channel.tls_ca_file, channel.tls_cert_file, channel.tls_key_file, channel.auth_token_file) == (
        files["ca.pem"],
        files["client.pem"],
        files["client.key"],
        files["token"],
    )


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"KAIROS_RANKER_USER_STATE__AUTH_TOKEN_FILE": "/nonexistent/token"}, "user_state.auth_token_file"),
        ({"KAIROS_RANKER_USER_STATE__TLS_CERT_FILE": "{file}"}, "user_state.tls_key_file"),
        ({"KAIROS_RANKER_USER_STATE__TLS_CA_FILE": "{file}"}, "user_state.tls=true"),
        ({"KAIROS_RANKER_USER_STATE__LB_POLICY": "random"}, "user_state.lb_policy"),
    ],
)
def test_bad_user_state_channel_settings_name_the_field(
    env: dict[str, str],
    field: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    existing = tmp_path / "exists.pem"
    existing.write_text("x\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(file=existing))
    assert main(["serve"]) == 2
    assert field in capsys.readouterr().err


def test_the_encoder_client_reads_the_rankers_own_nested_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KAIROS_ENCODERS_* (another service's environment) no longer reaches the ranker's encoder client;
    KAIROS_RANKER_ENCODERS__*, the YAML `encoders:` mapping and --triton do."""
    monkeypatch.setenv("KAIROS_ENCODERS_BREAKER_RESET_S", "1")
    monkeypatch.setenv("KAIROS_ENCODERS_MAX_RETRIES", "0")
    monkeypatch.setenv("KAIROS_ENCODERS_TRITON_URL", "elsewhere:8001")
    default = load_settings(parser().parse_args(["serve"])).encoders
    assert (default.breaker_reset_s, default.max_retries, default.triton_url) == (10.0, 3, None)

    config = tmp_path / "ranker.yaml"
    config.write_text("encoders:\n  cache_max_items: 7\n  max_retries: 1\n")
    monkeypatch.setenv("KAIROS_RANKER_ENCODERS__BREAKER_RESET_S", "2.5")
    monkeypatch.setenv("KAIROS_RANKER_ENCODERS__MAX_RETRIES", "4")
    args = parser().parse_args(["serve", "--config", str(config), "--triton", "triton:8001"])
    encoders = load_settings(args).encoders
    assert (encoders.breaker_reset_s, encoders.max_retries, encoders.cache_max_items, encoders.triton_url) == (
        2.5,
        4,
        7,
        "triton:8001",
    )


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("env", "encoders.max_retriez"),
        ("yaml", "user_state.adress"),
        ("yaml", "index.ann_nprobes"),
    ],
)
def test_unknown_nested_keys_are_rejected_naming_them(
    source: str, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model, key = named.split(".")
    argv = ["serve"]
    if source == "env":
        monkeypatch.setenv(f"KAIROS_RANKER_{model.upper()}__{key.upper()}", "3")
    else:
        config = tmp_path / "ranker.yaml"
        config.write_text(f"{model}:\n  {key}: 3\n")
        argv += ["--config", str(config)]
    assert main(argv) == 2
    assert named in capsys.readouterr().err


def test_flat_names_of_nested_settings_are_rejected_naming_the_new_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAIROS_RANKER_USER_STATE_TIMEOUT_S", "5")
    assert main(["serve"]) == 2
    assert "KAIROS_RANKER_USER_STATE__TIMEOUT_S" in capsys.readouterr().err


def test_every_ranker_name_in_the_deploy_env_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    deploy_env = Path(__file__).resolve().parents[2] / "deploy/k8s/base/config/ranker.env"
    pairs = [line.split("=", 1) for line in deploy_env.read_text().splitlines() if "=" in line and line[0] != "#"]
    known = {f"KAIROS_RANKER_{name.upper()}" for name in RankerSettings.model_fields}
    for nested in ("user_state", "encoders", "index"):
        model = RankerSettings.model_fields[nested].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        known |= {f"KAIROS_RANKER_{nested.upper()}__{name.upper()}" for name in model.model_fields}
    assert {name for name, _ in pairs} <= known
    for name, value in pairs:
        monkeypatch.setenv(name, value)
    mounted, real = {"/etc/kairos/auth/client-token"}, Path.is_file  # mounted from a Secret in the pod
    monkeypatch.setattr(Path, "is_file", lambda self: str(self) in mounted or real(self))
    settings = load_settings(parser().parse_args(["serve"]))
    assert settings.user_state.address == "dns:///kairos-user-state-headless:50051"
    assert settings.encoders.triton_url == "kairos-triton:8001"
    assert settings.user_state.auth_token_file == Path("/etc/kairos/auth/client-token")
