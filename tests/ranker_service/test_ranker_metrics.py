"""The ranker's own metrics: the index's scoring path is exported as it is at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from ranker.service.metrics import RankerMetrics


def test_index_scoring_follows_the_serving_index() -> None:
    registry = CollectorRegistry()
    metrics = RankerMetrics(registry)
    kind = ["int8"]
    metrics.watch_index_scoring(lambda: kind[0])
    assert 'kairos_ranker_index_scoring_info{kind="int8"} 1.0' in generate_latest(registry).decode()
    kind[0] = "ann"  # e.g. the catalogue grew past exact_max_items, or a reload calibrated differently
    text = generate_latest(registry).decode()
    assert 'kairos_ranker_index_scoring_info{kind="ann"} 1.0' in text and 'kind="int8"' not in text
