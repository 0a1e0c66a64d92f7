"""The load runner end to end: locust headless against a real gRPC target on loopback for ~5 s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from deploy.load.config import Slo
from deploy.load.run import main, parse_run_time
from deploy.load.slo_check import check_slo
from deploy.load.stats import OVERALL, RpcSummary
from tests.deploy.load_target import CallLog, start_target

USERS = 4
FAIL_EVERY = 4  # the target answers every 4th AppendEvents with RESOURCE_EXHAUSTED


@pytest.fixture
def target() -> Iterator[tuple[CallLog, str]]:
    log = CallLog()
    server, port = start_target(log, fail_every=FAIL_EVERY)
    yield log, f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.mark.integration
def test_run_counts_requests_and_failures_and_fails_the_slo(
    target: tuple[CallLog, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, address = target
    config = tmp_path / "slo.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mix": {"recommend": 3, "append_events": 2, "upsert_items": 1},
                "workload": {"wait_min_s": 0.005, "wait_max_s": 0.02, "image_size": 32},
                "slo": {"max_error_rate": 0.01, "rpcs": {"Recommend": {"p99_ms": 1000}}},
            }
        )
    )
    reports = tmp_path / "reports"
    code = main(
        ["--config", str(config), "--ranker", address, "--user-state", address, "--users", str(USERS),
         "--spawn-rate", str(USERS), "--run-time", "5s", "--report-dir", str(reports)]
    )  # fmt: skip
    out = capsys.readouterr().out

    assert code == 1  # a quarter of AppendEvents fail: the overall 1 % error budget is blown
    assert "SLO VIOLATED  Overall: error_rate" in out
    assert log.bad_payloads == []
    (report_file,) = reports.glob("*.json")
    report = json.loads(report_file.read_text())
    results = {name: RpcSummary(**r) for name, r in report["results"].items()}
    assert report["slo_passed"] is False
    assert [(v["scope"], v["metric"]) for v in report["violations"]] == [(OVERALL, "error_rate")]

    # Every call the target saw is counted, bar those cut off when the run stopped (at most one per user).
    for rpc in ("Recommend", "AppendEvents", "UpsertItems"):
        assert 0 <= log.received[rpc] - results[rpc].requests <= USERS, rpc
    assert 0 <= log.failed["AppendEvents"] - results["AppendEvents"].failures <= USERS
    assert results["AppendEvents"].error_rate == pytest.approx(1 / FAIL_EVERY, abs=0.03)
    assert results["Recommend"].failures == results["UpsertItems"].failures == 0
    overall = results[OVERALL]
    assert overall.requests == sum(results[r].requests for r in ("Recommend", "AppendEvents", "UpsertItems"))
    assert overall.requests > 100 and 3 <= overall.duration_s <= 7
    assert overall.rps == pytest.approx(overall.requests / overall.duration_s)
    # The 3:2:1 task weights show in the counts: each task's share within 4 binomial standard deviations of its
    # weight's (a fixed relative band failed about once in a few hundred runs on a loaded machine).
    counts = {rpc: results[rpc].requests for rpc in ("Recommend", "AppendEvents", "UpsertItems")}
    total = sum(counts.values())
    for rpc, weight in (("Recommend", 3 / 6), ("AppendEvents", 2 / 6), ("UpsertItems", 1 / 6)):
        sd = (weight * (1 - weight) / total) ** 0.5
        assert abs(counts[rpc] / total - weight) <= 4 * sd, (rpc, counts)
    assert 0 <= overall.p50_ms <= overall.p95_ms <= overall.p99_ms <= overall.max_ms
    # The same measurements pass an SLO that tolerates the injected failures.
    assert check_slo(results, Slo(max_error_rate=0.2, min_rps=10)) == []


def test_runner_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--user-state", "127.0.0.1:1", "--run-time", "5x", "--report-dir", str(tmp_path)]) == 2
    assert "--run-time" in capsys.readouterr().err
    assert main(["--user-state", "127.0.0.1:1", "--report-dir", str(tmp_path)]) == 2
    assert "--ranker" in capsys.readouterr().err
    assert parse_run_time("1h2m3s") == 3723 and parse_run_time("45") == 45
    assert not list(tmp_path.iterdir())
