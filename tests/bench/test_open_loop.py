"""bench/open_loop.py: the open-loop scheduler (unit) and a short real run against real servers."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import time
from pathlib import Path

import pytest

from bench import open_loop, open_loop_metrics
from bench.open_loop_client import Outcomes, Workload, percentile, summarise
from bench.open_loop_client import open_loop as schedule
from bench.open_loop_metrics import counter_delta, scrape


def test_launches_follow_the_schedule_when_the_server_is_slow() -> None:
    """Each call starts when it is due although every call takes 0.3 s: the generator never waits for answers."""
    rate, count, slow_s = 100.0, 40, 0.3
    started: list[float] = []

    async def slow(n: int) -> None:
        started.append(time.perf_counter())
        await asyncio.sleep(slow_s)

    begin = time.perf_counter()
    out = asyncio.run(schedule(slow, rate, count))
    elapsed = time.perf_counter() - begin
    lags = [sent - due for sent, due in zip(out.sent, out.scheduled, strict=True)]
    assert out.scheduled == [n / rate for n in range(count)]
    assert min(lags) >= 0 and sorted(lags)[count // 2] < 0.02 and max(lags) < 0.2  # slack for a loaded machine
    assert elapsed < (count - 1) / rate + slow_s + 0.5  # a closed loop would need count x 0.3 s = 12 s
    assert out.max_in_flight >= slow_s * rate / 2
    assert all(e is None for e in out.errors)
    latencies = [d - s for d, s in zip(out.done, out.scheduled, strict=True)]
    assert min(latencies) >= slow_s


def test_latency_counts_from_the_scheduled_time_and_errors_are_named() -> None:
    class Unavailable(Exception):
        def code(self) -> object:
            return type("Code", (), {"name": "UNAVAILABLE"})()

    async def flaky(n: int) -> None:
        if n % 4 == 3:
            raise Unavailable
        if n % 4 == 2:
            raise ValueError("boom")

    out = asyncio.run(schedule(flaky, 200.0, 8))
    assert out.errors == [None, None, "ValueError", "UNAVAILABLE"] * 2
    summary = summarise(out, 200.0, warmup_s=0.0)
    assert summary["requests"] == 8 and summary["ok"] == 4 and summary["errors"] == 4
    assert summary["error_codes"] == {"ValueError": 2, "UNAVAILABLE": 2}


def test_summary_skips_warm_up_and_orders_percentiles() -> None:
    rate = 10.0
    out = Outcomes(scheduled=[n / rate for n in range(30)])
    out.sent = list(out.scheduled)
    out.done = [s + (0.5 if n < 10 else 0.001 * (n - 9)) for n, s in enumerate(out.scheduled)]  # slow warm-up
    out.errors = [None] * 30
    summary = summarise(out, rate, warmup_s=1.0)
    assert summary["requests"] == 20
    assert summary["max_ms"] == pytest.approx(20.0)
    assert summary["p50_ms"] <= summary["p99_ms"] <= summary["p999_ms"] <= summary["max_ms"]
    assert summarise(Outcomes(scheduled=[]), rate, 0.0)["p99_ms"] is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([1.0] * 5 + [9.0], 99) == 9.0


def test_fresh_events_are_an_even_share_and_new_per_run() -> None:
    w = Workload(["user-a", "user-b"], [10_000, 20_000], [5_000, 15_000], ["i1", "i2", "i3"], 0.2)
    fresh = [n for n in range(1000) if w.is_fresh(n)]
    assert 190 <= len(fresh) <= 210
    n = fresh[0]
    a, b = w.request(n, run_id=1), w.request(n, run_id=2)
    assert len(a.recent_events) == 1 and a.recent_events[0] != b.recent_events[0]
    assert 5_000 < a.recent_events[0].timestamp_ms < 10_000 or 15_000 < a.recent_events[0].timestamp_ms < 20_000
    assert not w.request(next(m for m in range(1000) if not w.is_fresh(m))).recent_events


def test_index_scoring_is_read_from_a_scrape() -> None:
    scraped = {("kairos_ranker_index_scoring_info", (("kind", "int8"),)): 1.0, ("other", ()): 3.0}
    assert open_loop_metrics.index_scoring(scraped) == "int8"
    assert open_loop_metrics.index_scoring({("other", ()): 3.0}) is None


def test_bucket_quantile_and_max_rate() -> None:
    buckets = [(0.001, 50.0), (0.01, 100.0), (math.inf, 100.0)]
    assert open_loop_metrics.bucket_quantile(buckets, 0.5) == pytest.approx(0.001)
    assert open_loop_metrics.bucket_quantile(buckets, 0.75) == pytest.approx(0.0055)
    rows = [
        {"offered_rps": 20, "p99_ms": 5.0, "errors": 0},
        {"offered_rps": 500, "p99_ms": 40.0, "errors": 0},
        {"offered_rps": 1000, "p99_ms": 45.0, "errors": 3},
        {"offered_rps": 1500, "p99_ms": 80.0, "errors": 0},
        {"offered_rps": 2000, "skipped": "not run"},
    ]
    assert open_loop.max_rate(rows) == 500
    assert open_loop.parse_size("1m") == 1_000_000 and open_loop.parse_size("2.5k") == 2_500


@pytest.mark.integration
@pytest.mark.slow
def test_short_real_run(artifact: Path, tmp_path: Path) -> None:
    """Tiny catalogue, two low rates of 1.5 s: every rate reported with ordered percentiles and no errors; the
    headline keys merged into an existing ranker.json without dropping its keys."""
    ranker_json = tmp_path / "ranker.json"
    ranker_json.write_text(json.dumps({"rps_10k": 1.0}))
    js = open_loop.js_available() is None
    argv = ["--artifact", str(artifact), "--sizes", "2k", "--rates", "2k=20,50", "--seconds", "1.5"]
    argv += ["--warmup-s", "0.5", "--max-users", "40", "--js-size", "2k", "--js-rate", "50"]
    argv += ["--out-dir", str(tmp_path), "--ranker-json", str(ranker_json)]
    assert open_loop.main(argv) == 0

    report = json.loads((tmp_path / "open_loop.json").read_text())
    size = report["sizes"]["2k"]
    assert size["items"] == 2000 and size["time_to_serving_s"] > 0
    assert size["exact_scoring"] in ("int8", "float32", "bfloat16")  # 2k items: exact, whichever path
    assert size["memory_at_serving"]["rss_mb"] > 50 and size["memory_after_load"]["peak_rss_mb"] > 50
    assert [r["offered_rps"] for r in size["rates"]] == [20, 50]
    rows = size["rates"] + ([size["js"]] if js else [])
    for row in rows:
        assert row["requests"] == round(row["offered_rps"] * 1.5) and row["ok"] == row["requests"]
        assert row["errors"] == 0
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"]
        assert row["stages"]["scoring"]["count"] > 0 and row["stages"]["server_total"]["count"] >= row["requests"]
    assert size["rates"][0]["stages"]["batching"]["history_cache_misses"] > 0  # the fresh events
    if not js:
        assert "skipped" in size["js"]
    assert size["max_rps_p99_50ms"] in (0, 20, 50)
    merged = json.loads(ranker_json.read_text())
    assert merged["rps_10k"] == 1.0 and "max_rps_p99_50ms_2k" in merged and "time_to_serving_s_2k" in merged
    assert "## 2k items" in (tmp_path / "open_loop.md").read_text()
    assert (tmp_path / "open_loop.png").exists() or importlib.util.find_spec("matplotlib") is None


@pytest.mark.integration
@pytest.mark.slow
def test_replicas_share_the_load_and_their_metrics_add_up(artifact: Path, tmp_path: Path) -> None:
    """Two ranker processes called as one round_robin target: each serves part of the calls, and the report's
    stage counts and memory are the sums over both."""
    argv = ["--artifact", str(artifact), "--sizes", "2k", "--rates", "2k=40", "--seconds", "1.5", "--replicas", "2"]
    ranker_json = tmp_path / "ranker.json"
    ranker_json.write_text(json.dumps({"max_rps_p99_50ms_2k": 7.0}))
    argv += ["--warmup-s", "0.5", "--max-users", "40", "--js-size", "2k", "--out-dir", str(tmp_path)]
    argv += ["--ranker-json", str(ranker_json)]
    seen: list[tuple[dict, list[float]]] = []
    real_measured_run = open_loop.measured_run

    def spy(client, ranker, cpu, workload, rate, plan, run_id):
        before = [scrape(r.metrics_url) for r in ranker.replicas]
        row = real_measured_run(client, ranker, cpu, workload, rate, plan, run_id)
        after = [scrape(r.metrics_url) for r in ranker.replicas]
        seen.append((row, [counter_delta(b, a, "kairos_rpc_latency_seconds_count", method="Recommend")
                           for b, a in zip(before, after, strict=True)]))  # fmt: skip
        return row

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(open_loop, "measured_run", spy)
        assert open_loop.main(argv) == 0
    report = json.loads((tmp_path / "open_loop.json").read_text())
    size = report["sizes"]["2k"]
    assert report["replicas"] == 2 and "skipped" in size["js"]
    row, per_replica = seen[0]
    assert row["errors"] == 0 and row["ok"] == row["requests"] == 60
    assert len(per_replica) == 2 and all(n >= 20 for n in per_replica)  # round_robin: both replicas served
    assert row["stages"]["server_total"]["count"] == pytest.approx(sum(per_replica))
    assert size["memory_at_serving"]["rss_mb"] > 100  # two processes
    assert "2 ranker processes per size" in (tmp_path / "open_loop.md").read_text()
    merged = json.loads(ranker_json.read_text())  # own keys: the one-process figure is kept
    assert merged["max_rps_p99_50ms_2k"] == 7.0 and merged["max_rps_p99_50ms_2k_2replicas"] in (0, 40)


def test_a_measured_size_drops_its_stale_keys_and_keeps_the_others(tmp_path) -> None:
    from bench.open_loop_report import merge_into

    path = tmp_path / "ranker.json"
    path.write_text(
        '{"open_loop_p99_ms_at_1000_100k": 656.3, "idle_p50_ms_100k": 13.4, "idle_p50_ms_1m": 7.4, "other": 1}'
    )
    merge_into(path, {"idle_p50_ms_100k": 16.2}, ["100k"])
    import json

    assert json.loads(path.read_text()) == {"idle_p50_ms_100k": 16.2, "idle_p50_ms_1m": 7.4, "other": 1}


def test_ann_recall_measure_runs_on_served_user_vectors(artifact: Path) -> None:
    """bench/index_measures.recall_at_10 (the 1M row's recall) builds real user vectors through the ranker's own
    history path: 1.0 for an exact index, a fraction for the ANN."""
    from bench.index_measures import recall_at_10
    from ranker.index import IndexConfig
    from ranker.service.model import load_model

    model = load_model(artifact)
    assert recall_at_10(model, 3000, IndexConfig(exact_max_items=10_000, exact_prefilter="off"), users=8) == 1.0
    assert 0.0 < recall_at_10(model, 3000, IndexConfig(exact_max_items=0, ann_nprobe=2), users=8) <= 1.0
