"""Summaries of locust stats entries and the SLO verdict on them."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from PIL import Image

from deploy.load.config import RpcSlo, Slo, Workload
from deploy.load.payloads import PayloadFactory, make_png
from deploy.load.slo_check import Violation, check_slo
from deploy.load.stats import OVERALL, format_table, percentile, summarise


def entry(name: str, latencies: dict[int, int], failures: int, start: float, end: float) -> dict[str, Any]:
    """A locust `--json-file` stats entry."""
    requests = sum(latencies.values())
    return {
        "name": name,
        "method": "grpc",
        "num_requests": requests,
        "num_failures": failures,
        "num_none_requests": 0,
        "start_time": start,
        "last_request_timestamp": end,
        "total_response_time": sum(ms * n for ms, n in latencies.items()),
        "max_response_time": max(latencies),
        "min_response_time": min(latencies),
        "total_content_length": 0,
        # JSON object keys are strings.
        "response_times": {str(ms): n for ms, n in latencies.items()},
        "num_reqs_per_sec": {},
        "num_fail_per_sec": {},
    }


def test_percentile_is_the_smallest_latency_covering_the_fraction() -> None:
    histogram = {1: 50, 2: 45, 10: 4, 100: 1}
    assert percentile(histogram, 0.50) == 1
    assert percentile(histogram, 0.51) == 2
    assert percentile(histogram, 0.95) == 2
    assert percentile(histogram, 0.99) == 10
    assert percentile(histogram, 1.0) == 100
    assert percentile({}, 0.99) == 0
    with pytest.raises(ValueError, match="fraction"):
        percentile(histogram, 1.5)


def test_summarise_per_rpc_and_overall() -> None:
    entries = [
        entry("Recommend", {5: 90, 20: 9, 80: 1}, failures=2, start=100.0, end=110.0),
        entry("AppendEvents", {2: 40, 3: 10}, failures=5, start=101.0, end=110.0),
    ]
    summaries = summarise(entries)
    recommend, append, overall = summaries["Recommend"], summaries["AppendEvents"], summaries[OVERALL]
    assert (recommend.requests, recommend.failures) == (100, 2)
    assert recommend.rps == pytest.approx(10.0)
    assert recommend.error_rate == pytest.approx(0.02)
    assert (recommend.p50_ms, recommend.p95_ms, recommend.p99_ms, recommend.max_ms) == (5, 20, 20, 80)
    assert recommend.avg_ms == pytest.approx((5 * 90 + 20 * 9 + 80) / 100)
    assert append.rps == pytest.approx(50 / 9)
    assert (overall.requests, overall.failures) == (150, 7)
    assert overall.rps == pytest.approx(15.0)
    assert overall.error_rate == pytest.approx(7 / 150)
    assert (overall.p50_ms, overall.p99_ms) == (5, 20)  # 75th of 150 sorted latencies is 5 ms
    table = format_table(summaries)
    assert table.splitlines()[-1].split()[:3] == [OVERALL, "150", "7"]


def test_check_slo_reports_each_missed_threshold() -> None:
    summaries = summarise(
        [
            entry("Recommend", {5: 90, 200: 10}, failures=3, start=0.0, end=10.0),
            entry("AppendEvents", {2: 100}, failures=0, start=0.0, end=10.0),
        ]
    )
    slo = Slo(
        min_rps=15,
        max_error_rate=0.01,
        rpcs={"Recommend": RpcSlo(p99_ms=100, max_error_rate=0.05), "AppendEvents": RpcSlo(p99_ms=50)},
    )
    violations = check_slo(summaries, slo)
    assert {(v.scope, v.metric) for v in violations} == {
        (OVERALL, "error_rate"),  # 3/200 > 1 %
        ("Recommend", "p99_ms"),  # 200 > 100
    }
    lenient = Slo(min_rps=10, max_error_rate=0.02, rpcs={"Recommend": RpcSlo(p99_ms=250)})
    assert check_slo(summaries, lenient) == []
    assert check_slo(summaries, Slo(min_rps=25, max_error_rate=0.5)) == [Violation(OVERALL, "rps", 25, 20.0)]
    missing = check_slo(summaries, Slo(max_error_rate=0.5, rpcs={"UpsertItems": RpcSlo(p99_ms=1)}))
    assert [(v.scope, v.metric) for v in missing] == [("UpsertItems", "requests")]
    assert str(Violation("Recommend", "p99_ms", 100, 200)) == "Recommend: p99_ms = 200 (SLO <= 100)"


def test_payloads_are_valid_requests_with_decodable_png_images() -> None:
    workload = Workload(users=10, items=20, events_per_append=3, items_per_upsert=2, recommend_k=7, image_size=16)
    rng = random.Random(1)
    factory = PayloadFactory(workload, rng, [make_png(workload.image_size, rng)])
    events = factory.append_events().events
    assert len(events) == 3 and len({e.event_id for e in events}) == 3
    assert len({e.user_id for e in events}) == 1 and 1 <= int(events[0].user_id) <= 10
    assert all(1 <= int(e.item_id) <= 20 and e.timestamp_ms > 0 for e in events)
    assert [e.timestamp_ms for e in events] == sorted(e.timestamp_ms for e in events)
    assert factory.recommend().k == 7
    items = factory.upsert_items().items
    assert len(items) == 2 and all(i.text_fields["title"] and i.text_fields["plot"] for i in items)
    with Image.open(io.BytesIO(items[0].image)) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (16, 16), "RGB")
    with pytest.raises(ValueError, match="images"):
        PayloadFactory(workload, rng, [])
