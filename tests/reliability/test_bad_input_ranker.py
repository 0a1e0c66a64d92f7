"""Property tests over every Ranker RPC, and a corpus of hostile images, against real ranker + user-state
processes: OK or a clear INVALID_ARGUMENT, per-item errors for bad items, healthy server, nothing half-written."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from kairos.v1 import events_pb2, ranker_pb2, ranker_pb2_grpc, user_state_pb2, user_state_pb2_grpc
from tests.reliability.hostile_images import control_jpeg, control_png, hostile_corpus
from tests.reliability.servers import Served, start_ranker, start_user_state
from tests.reliability.verdicts import assert_clear, call_verdict
from tests.reliability.wire import bytes_field, is_utf8, raw_unary

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
PROBE_USER = "probe"
MAX_IMAGE_BYTES = 1024 * 1024
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_fresh = itertools.count()

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)
long_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=257, max_size=300)
# Never a catalogue id (digits): a random DeleteItems must not remove the probe's items.
ids = st.one_of(text, long_text).filter(lambda s: not s.isdigit())
int64 = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.integers(T0 - 10**6, T0 + 10**6), st.sampled_from([0, -1, 1_700_000_000])
)
int32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(-2, 1002))
catalogue_ids = st.integers(1, 300).map(str)
events = st.builds(
    events_pb2.Event,
    event_id=text,
    user_id=st.one_of(st.just(""), text),
    item_id=st.one_of(catalogue_ids, ids),
    timestamp_ms=int64,
    domain=text,
    event_type=text,
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, artifact: Path) -> Iterator[tuple[Served, Served]]:
    workdir = tmp_path_factory.mktemp("bad-input-ranker")
    user_state = start_user_state(workdir, "--sync", "off")
    with user_state.channel() as channel:
        history = [
            events_pb2.Event(event_id=f"h{n}", user_id=PROBE_USER, item_id=str(n), timestamp_ms=T0 + n)
            for n in range(1, 8)
        ]
        user_state_pb2_grpc.UserStateStub(channel).AppendEvents(
            user_state_pb2.AppendEventsRequest(events=history), timeout=10
        )
    env = {
        "KAIROS_RANKER_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES),
        "KAIROS_RANKER_USER_STATE__TIMEOUT_S": "5",
        "KAIROS_RANKER_ENCODERS__TIMEOUT_S": "120",  # the first call loads the ONNX encoders (slow on a busy box)
    }
    ranker = start_ranker(workdir, artifact, user_state.address, env=env)
    with ranker.channel() as channel:
        warm = ranker_pb2.Item(item_id="warm-up", text="warm up", image=control_jpeg())
        reply = ranker_pb2_grpc.RankerStub(channel).UpsertItems(
            ranker_pb2.UpsertItemsRequest(items=[warm]), timeout=180
        )
        assert reply.upserted == 1, reply
    yield ranker, user_state
    log = ranker.proc.log_text()
    assert ranker.stop() == 0
    assert user_state.stop() == 0
    assert "Traceback" not in log and "unhandled error" not in log, log[-4000:]


@pytest.fixture(scope="module")
def ranker(servers: tuple[Served, Served]) -> Served:
    return servers[0]


@pytest.fixture(scope="module")
def stub(ranker: Served) -> Iterator[ranker_pb2_grpc.RankerStub]:
    with ranker.channel() as channel:
        yield ranker_pb2_grpc.RankerStub(channel)


def probe(stub: ranker_pb2_grpc.RankerStub) -> list[tuple[str, float]]:
    """The probe user's top 20 (a user with stored history: ranked by the model, not by popularity)."""
    reply = stub.Recommend(
        ranker_pb2.RecommendRequest(user_id=PROBE_USER, k=20, request_time_ms=T0 + 10**6), timeout=30
    )
    assert list(reply.degradations) == [], list(reply.degradations)
    return [(i.item_id, round(i.score, 5)) for i in reply.items]


def present(stub: ranker_pb2_grpc.RankerStub, item_id: str) -> bool:
    """True when `item_id` is in the catalogue (Recommend restricted to it does not call it unknown)."""
    reply = stub.Recommend(
        ranker_pb2.RecommendRequest(user_id=PROBE_USER, k=1, candidate_ids=[item_id], request_time_ms=T0 + 10**6),
        timeout=30,
    )
    return item_id not in reply.unknown_candidate_ids and [i.item_id for i in reply.items] == [item_id]


def oversized(n: int) -> list[str]:
    return [f"c{k}" for k in range(n)]


@FAST
@given(
    user_id=ids,
    k=int32,
    request_time_ms=int64,
    candidate_ids=st.one_of(st.lists(st.one_of(catalogue_ids, ids), max_size=5), st.builds(oversized, st.just(10_001))),
    exclude_seen=st.booleans(),
    target_domain=st.one_of(st.just(""), text),
    recent_events=st.one_of(st.lists(events, max_size=4), st.lists(events, min_size=201, max_size=201)),
)
def test_recommend(stub, user_id, k, request_time_ms, candidate_ids, exclude_seen, target_domain, recent_events):
    before = probe(stub)
    request = ranker_pb2.RecommendRequest(
        user_id=user_id,
        k=k,
        request_time_ms=request_time_ms,
        candidate_ids=candidate_ids,
        exclude_seen=exclude_seen,
        target_domain=target_domain,
        recent_events=recent_events,
    )
    code, details, reply = call_verdict(lambda: stub.Recommend(request, timeout=30))
    assert_clear(code, details)
    if code == grpc.StatusCode.OK:
        assert len(reply.items) <= k
        assert len({i.item_id for i in reply.items}) == len(reply.items)
    assert probe(stub) == before


def _item(draw_id: str, text_value: str, fields: dict[str, str], image: bytes, domain: str) -> ranker_pb2.Item:
    return ranker_pb2.Item(item_id=draw_id, text=text_value, text_fields=fields, image=image, domain=domain)


images = st.one_of(st.just(b""), st.binary(max_size=64), st.sampled_from([control_jpeg(), control_png()]))
items = st.builds(
    _item,
    st.one_of(*[st.builds(lambda: f"fz-{next(_fresh)}")] * 3, st.just(""), long_text),
    st.one_of(st.just(""), text, text, st.just("x" * 20_001)),
    st.dictionaries(st.sampled_from(["title", "genres", "plot", "other"]), text, max_size=3),
    images,
    text,
)


@SLOW
@given(
    batch=st.one_of(
        st.lists(items, max_size=3),
        st.lists(st.just(ranker_pb2.Item(item_id="same", text="t")), min_size=2, max_size=2),
    )
)
def test_upsert_items(stub, batch: list[ranker_pb2.Item]) -> None:
    before = probe(stub)
    request = ranker_pb2.UpsertItemsRequest(items=batch)
    code, details, reply = call_verdict(lambda: stub.UpsertItems(request, timeout=120))
    assert_clear(code, details)
    fresh = [it.item_id for it in batch if it.item_id.startswith("fz-")]
    if code != grpc.StatusCode.OK:
        assert probe(stub) == before
        assert not any(present(stub, i) for i in fresh), "a rejected request left items behind"
        return
    event(f"upserted {reply.upserted} of {len(batch)}")
    assert [r.item_id for r in reply.results] == [it.item_id for it in batch]
    assert reply.upserted == sum(r.ok for r in reply.results)
    for i, result in enumerate(reply.results):
        if result.ok:
            assert present(stub, result.item_id)
        else:
            assert result.error.startswith(f"items[{i}]"), result.error
            if result.item_id.startswith("fz-"):
                assert not present(stub, result.item_id), f"rejected item left behind: {result.error}"


@FAST
@given(item_ids=st.one_of(st.lists(ids, max_size=6), st.builds(oversized, st.just(10_001))))
def test_delete_items(stub, item_ids: list[str]) -> None:
    before = probe(stub)
    code, details, reply = call_verdict(
        lambda: stub.DeleteItems(ranker_pb2.DeleteItemsRequest(item_ids=item_ids), timeout=30)
    )
    assert_clear(code, details)
    if code == grpc.StatusCode.OK:
        assert reply.deleted + len(reply.not_found) == len(dict.fromkeys(item_ids))
    assert probe(stub) == before


@FAST
@given(user_id=st.binary(min_size=1, max_size=12), item_id=st.binary(min_size=1, max_size=12))
def test_invalid_utf8_is_named(ranker: Served, stub, user_id: bytes, item_id: bytes) -> None:
    assume(not (is_utf8(user_id) and is_utf8(item_id)))
    event = bytes_field(3, item_id) + bytes_field(1, b"e1")
    payload = bytes_field(1, user_id) + b"\x10\x05" + bytes_field(7, event)  # user_id, k=5, recent_events[0]
    with ranker.channel() as channel:
        code, details, _ = call_verdict(lambda: raw_unary(channel, "/kairos.v1.Ranker/Recommend")(payload, timeout=30))
    expected = "user_id" if not is_utf8(user_id) else "recent_events[0].item_id"
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, f"{expected}: is not valid UTF-8")


@FAST
@given(method=st.sampled_from(["Recommend", "UpsertItems", "DeleteItems"]), payload=st.binary(max_size=200))
def test_arbitrary_bytes_as_a_request(ranker: Served, stub, method: str, payload: bytes) -> None:
    before = probe(stub)
    with ranker.channel() as channel:
        code, details, _ = call_verdict(lambda: raw_unary(channel, f"/kairos.v1.Ranker/{method}")(payload, timeout=60))
    assert_clear(code, details)
    if method != "UpsertItems":
        assert probe(stub) == before


def test_hostile_images_fail_per_item_and_store_nothing(ranker: Served, stub) -> None:
    corpus = {**hostile_corpus(), "over_max_image_bytes": control_jpeg() + b"\0" * (MAX_IMAGE_BYTES + 1)}
    names = list(corpus)
    batch = [ranker_pb2.Item(item_id=f"hostile-{n}", text="a poster", image=corpus[n]) for n in names]
    batch.append(ranker_pb2.Item(item_id="honest-jpeg", text="a poster", image=control_jpeg()))
    batch.append(ranker_pb2.Item(item_id="honest-png", image=control_png()))
    rss_before = psutil.Process(ranker.proc.pid).memory_info().rss
    reply = stub.UpsertItems(ranker_pb2.UpsertItemsRequest(items=batch), timeout=120)
    rss_growth = psutil.Process(ranker.proc.pid).memory_info().rss - rss_before
    by_id = {r.item_id: r for r in reply.results}
    for i, name in enumerate(names):
        result = by_id[f"hostile-{name}"]
        assert not result.ok, f"{name} was accepted"
        assert result.error.startswith(f"items[{i}].image: "), (name, result.error)
        assert not present(stub, f"hostile-{name}"), f"{name} was stored"
    assert by_id["honest-jpeg"].ok and by_id["honest-png"].ok, (by_id["honest-jpeg"], by_id["honest-png"])
    assert reply.upserted == 2
    assert present(stub, "honest-jpeg") and present(stub, "honest-png")
    assert rss_growth < 600 * 2**20, f"the decompression bomb cost {rss_growth / 2**20:.0f} MiB"
    assert ranker.healthy()
