"""Request validation names the bad field; histories merge, de-duplicate and skip unknown items."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kairos.service.errors import InvalidArgument
from kairos.v1 import events_pb2, ranker_pb2
from ranker.service.history import assemble, merge_events, usable_history
from ranker.service.popularity import PopularityRanker
from ranker.service.settings import RankerSettings
from ranker.service.validation import RequestValidator, now_ms
from user_state.events import Event

T0 = 1_700_000_000_000


@pytest.fixture
def validator() -> RequestValidator:
    return RequestValidator(RankerSettings(max_k=100, max_candidates=3, max_recent_events=2, metrics_port=None))


def request(**fields: object) -> ranker_pb2.RecommendRequest:
    return ranker_pb2.RecommendRequest(**{"user_id": "u1", "k": 10, **fields})


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"user_id": ""}, "user_id"),
        ({"user_id": "x" * 300}, "user_id"),
        ({"k": 0}, "k"),
        ({"k": -3}, "k"),
        ({"k": 101}, "k"),
        ({"request_time_ms": -5}, "request_time_ms"),
        ({"request_time_ms": 1_700_000_000}, "request_time_ms"),  # seconds, not milliseconds
        ({"candidate_ids": ["a", "b", "c", "d"]}, "candidate_ids"),
        ({"candidate_ids": ["a", ""]}, "candidate_ids[1]"),
        ({"recent_events": [events_pb2.Event(item_id="", timestamp_ms=T0)]}, "recent_events[0].item_id"),
        ({"recent_events": [events_pb2.Event(item_id="i", timestamp_ms=0)]}, "recent_events[0].timestamp_ms"),
        ({"recent_events": [events_pb2.Event(item_id="i", timestamp_ms=T0, user_id="u2")]}, "recent_events[0].user_id"),
        ({"recent_events": [events_pb2.Event(item_id="i", timestamp_ms=T0)] * 3}, "recent_events"),
        ({"target_domain": "books"}, "target_domain"),
    ],
)
def test_bad_recommend_requests_name_the_field(validator: RequestValidator, fields: dict, field_name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validator.recommend(request(**fields), domains=frozenset({"movies"}))
    assert info.value.field == field_name


def test_valid_request_defaults_the_time_to_the_server_clock(validator: RequestValidator) -> None:
    before = now_ms()
    query = validator.recommend(request(candidate_ids=["a"], exclude_seen=True), domains=None)
    assert before <= query.request_time_ms <= now_ms()
    assert query.candidate_ids == ["a"] and query.exclude_seen and query.k == 10


def test_upsert_item_validation(validator: RequestValidator) -> None:
    s = validator.s
    item = ranker_pb2.Item(item_id="a")
    assert "needs at least one of text" in validator.upsert_item(0, item, "")
    assert validator.upsert_item(0, item, "some text") is None
    big = ranker_pb2.Item(item_id="a", image=b"x" * (s.max_image_bytes + 1))
    assert validator.upsert_item(2, big, "").startswith("items[2].image:")
    assert validator.upsert_item(1, ranker_pb2.Item(item_id=""), "t").startswith("items[1].item_id:")
    dupes = ranker_pb2.UpsertItemsRequest(items=[ranker_pb2.Item(item_id="a"), ranker_pb2.Item(item_id="a")])
    with pytest.raises(InvalidArgument, match=r"items\[1\]\.item_id"):
        validator.upsert_batch(dupes)
    with pytest.raises(InvalidArgument, match="items"):
        validator.upsert_batch(ranker_pb2.UpsertItemsRequest())


def ev(event_id: str, item: str, t: int) -> Event:
    return Event(event_id, "u1", item, t)


def test_merge_deduplicates_orders_and_drops_events_after_the_request() -> None:
    stored = [ev("e1", "a", T0), ev("e2", "b", T0 + 10)]
    inline = [ev("e2", "b", T0 + 10), ev("e3", "c", T0 + 5), ev("", "d", T0 + 20), ev("e4", "late", T0 + 999)]
    merged = merge_events(stored, inline, request_time_ms=T0 + 100)
    assert [e.item_id for e in merged] == ["a", "c", "b", "d"]


def test_usable_history_skips_unknown_items_and_pads_right() -> None:
    row_of = {"a": 0, "b": 2}  # row 1 is a deleted item
    vectors = np.arange(3 * 4, dtype=np.float32).reshape(3, 4) + 1
    h1 = usable_history([ev("1", "a", T0), ev("2", "zz", T0 + 1), ev("3", "b", T0 + 2)], row_of, max_len=50)
    h2 = usable_history([ev("4", "b", T0 + 5)], row_of, max_len=50)
    assert h1.rows == [0, 2] and h1.unknown_items == 1 and h1.seen_item_ids == {"a", "zz", "b"}
    batch = assemble([h1, h2], [T0 + 10, T0 + 20], ["", ""], vectors)
    assert batch.item_vectors.shape == (2, 2, 4) and list(batch.lengths) == [2, 1]
    assert batch.item_vectors.tolist() == [[vectors[0].tolist(), vectors[2].tolist()], [vectors[2].tolist(), [0.0] * 4]]
    assert batch.times_ms.tolist() == [[T0, T0 + 2], [T0 + 5, T0 + 5]]
    assert usable_history([ev("1", "a", T0)] * 5, row_of, max_len=3).rows == [0, 0, 0]


def test_popularity_counts_each_event_once_and_falls_back_to_recent_items() -> None:
    pop = PopularityRanker(half_life_s=3600)
    first = [Event("e1", "u1", "a", T0), Event("e3", "u1", "b", T0)]
    pop.observe(first)
    pop.observe([Event("e2", "u2", "a", T0)])
    pop.observe(first)  # the same history again: not double counted
    assert pop.scores == {"a": 2.0, "b": 1.0}
    pop.observe([*first, Event("e4", "u1", "c", T0 + 3_600_000)])  # only the new event counts: one half-life later
    # ages count from the newest event: the older events have lost half their weight
    assert pop.scores == pytest.approx({"a": 1.0, "b": 0.5, "c": 1.0})
    live = {"a", "b", "fresh"}.__contains__
    assert [i for i, _ in pop.top(3, live, lambda: ["fresh"])] == ["a", "b", "fresh"]
    assert [i for i, _ in pop.top(3, live, lambda: ["fresh"], exclude=frozenset({"a"}))] == ["b", "fresh"]
    assert [i for i, _ in pop.top(5, live, list, candidates=["b", "zz", "a"])] == ["a", "b"]


def test_popularity_is_the_training_prior_plus_fresh_traffic() -> None:
    pop = PopularityRanker(half_life_s=86_400)
    pop.seed({"hit": 100.0, "steady": 50.0})
    day = 86_400_000
    # a handful of users watched old items long ago, then "new-film" is watched 60 times in the last day
    pop.observe([Event(f"old{n}", "early", "steady", T0 + n) for n in range(10)])
    for n in range(60):
        pop.observe([Event(f"n{n}", f"fan{n}", "new-film", T0 + 300 * day + n * 1000)])
    scores = pop.scores
    assert scores["steady"] == pytest.approx(50.0, abs=1e-6)  # 300 half-lives later, old live events weigh ~0
    assert scores["new-film"] == pytest.approx(60.0, rel=1e-3)
    assert [i for i, _ in pop.top(3, lambda _: True, list)] == ["hit", "new-film", "steady"]
    # years of replayed history never overflow
    pop.observe([Event("far", "late", "hit", T0 + 20 * 365 * day)])
    assert all(math.isfinite(v) for v in pop.scores.values()) and pop.scores["new-film"] < 1e-6
