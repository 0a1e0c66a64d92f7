"""Property tests: hostile requests to every UserState RPC of a real server get OK or a clear INVALID_ARGUMENT,
the server stays healthy, and a rejected call changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kairos.v1 import events_pb2, user_state_pb2, user_state_pb2_grpc
from tests.reliability.servers import Served, start_user_state
from tests.reliability.verdicts import assert_clear, call_verdict
from tests.reliability.wire import bytes_field, int_field, is_utf8, raw_unary

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
SEED_USERS = [f"seed-{n}" for n in range(4)]
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text without lone surrogates (protobuf cannot even serialize those); invalid UTF-8 is covered by the raw tests.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
ids = st.one_of(text, st.text(st.characters(blacklist_categories=("Cs",)), min_size=250, max_size=400))
int64 = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(T0 - 10**6, T0 + 10**6),
    st.sampled_from([0, -1, 1, 1_700_000_000, 2**63 - 1, -(2**63)]),
)
int32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, -1, 1, 200, 2**31 - 1]))
events = st.builds(
    events_pb2.Event,
    event_id=ids,
    user_id=st.one_of(ids, st.sampled_from(SEED_USERS)),
    item_id=ids,
    timestamp_ms=int64,
    domain=st.one_of(text, st.text(min_size=60, max_size=80)),
    event_type=text,
)
filters = st.builds(user_state_pb2.SequenceFilter, limit=int32, since_ms=int64, until_ms=int64, domain=text)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("bad-input-user-state")
    served = start_user_state(workdir, "--sync", "off")
    with served.channel() as channel:
        stub = user_state_pb2_grpc.UserStateStub(channel)
        seed = [
            events_pb2.Event(event_id=f"s{n}", user_id=u, item_id=f"i{n}", timestamp_ms=T0 + n)
            for u in SEED_USERS
            for n in range(3)
        ]
        stub.AppendEvents(user_state_pb2.AppendEventsRequest(events=seed), timeout=10)
    yield served
    log = served.proc.log_text()
    assert served.stop() == 0
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]


@pytest.fixture(scope="module")
def stub(server: Served) -> Iterator[user_state_pb2_grpc.UserStateStub]:
    with server.channel() as channel:
        yield user_state_pb2_grpc.UserStateStub(channel)


def snapshot(stub: user_state_pb2_grpc.UserStateStub, users: list[str]) -> bytes:
    """Serialized stored sequences of `users` (seed users always included)."""
    wanted = list(dict.fromkeys([*SEED_USERS, *(u for u in users if u and len(u.encode()) <= 256)]))[:64]
    return stub.GetSequences(user_state_pb2.GetSequencesRequest(user_ids=wanted), timeout=10).SerializeToString()


def oversized_batch(n: int) -> list[events_pb2.Event]:
    return [events_pb2.Event(event_id=f"o{k}", user_id="seed-0", item_id="x", timestamp_ms=T0 + k) for k in range(n)]


@PROPERTY
@given(batch=st.one_of(st.lists(events, max_size=6), st.builds(oversized_batch, st.integers(1001, 1500))))
def test_append_events(stub: user_state_pb2_grpc.UserStateStub, server: Served, batch: list) -> None:
    users = [e.user_id for e in batch[:20]]
    before = snapshot(stub, users)
    code, details, _ = call_verdict(
        lambda: stub.AppendEvents(user_state_pb2.AppendEventsRequest(events=batch), timeout=10)
    )
    assert_clear(code, details)
    if code != grpc.StatusCode.OK:
        assert snapshot(stub, users) == before, f"rejected call ({details}) changed stored state"


@PROPERTY
@given(user_id=ids, filter_=filters)
def test_get_sequence(stub: user_state_pb2_grpc.UserStateStub, user_id: str, filter_) -> None:
    request = user_state_pb2.GetSequenceRequest(user_id=user_id, filter=filter_)
    assert_clear(*call_verdict(lambda: stub.GetSequence(request, timeout=10))[:2])


@PROPERTY
@given(
    user_ids=st.one_of(st.lists(ids, max_size=8), st.lists(st.just("u"), min_size=1025, max_size=1100)),
    filter_=filters,
)
def test_get_sequences(stub: user_state_pb2_grpc.UserStateStub, user_ids: list[str], filter_) -> None:
    request = user_state_pb2.GetSequencesRequest(user_ids=user_ids, filter=filter_)
    code, details, reply = call_verdict(lambda: stub.GetSequences(request, timeout=10))
    assert_clear(code, details)
    if code == grpc.StatusCode.OK:
        assert [s.user_id for s in reply.sequences] == user_ids


@PROPERTY
@given(user_id=ids)
def test_delete_user(stub: user_state_pb2_grpc.UserStateStub, user_id: str) -> None:
    assume(user_id not in SEED_USERS)
    before = snapshot(stub, [])
    code, details, _ = call_verdict(
        lambda: stub.DeleteUser(user_state_pb2.DeleteUserRequest(user_id=user_id), timeout=10)
    )
    assert_clear(code, details)
    assert snapshot(stub, []) == before, "deleting another user touched the seed users"


RAW_EVENT_STRINGS = {1: "event_id", 2: "user_id", 3: "item_id", 5: "domain", 6: "event_type"}


@PROPERTY
@given(fields=st.dictionaries(st.sampled_from(sorted(RAW_EVENT_STRINGS)), st.binary(max_size=12), min_size=1))
def test_invalid_utf8_in_any_event_string_is_named(server: Served, stub, fields: dict[int, bytes]) -> None:
    assume(not all(is_utf8(v) for v in fields.values()))
    event = b"".join(bytes_field(n, v) for n, v in sorted(fields.items())) + int_field(4, T0)
    before = snapshot(stub, [])
    with server.channel() as channel:
        call = raw_unary(channel, "/kairos.v1.UserState/AppendEvents")
        code, details, _ = call_verdict(lambda: call(bytes_field(1, event), timeout=10))
    first_bad = next(RAW_EVENT_STRINGS[n] for n, v in sorted(fields.items()) if not is_utf8(v))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert details == f"events[0].{first_bad}: is not valid UTF-8"
    assert snapshot(stub, []) == before


@PROPERTY
@given(method=st.sampled_from(["AppendEvents", "GetSequence", "GetSequences", "DeleteUser"]), payload=st.binary())
def test_arbitrary_bytes_as_a_request(server: Served, stub, method: str, payload: bytes) -> None:
    before = snapshot(stub, [])
    with server.channel() as channel:
        call = raw_unary(channel, f"/kairos.v1.UserState/{method}")
        code, details, _ = call_verdict(lambda: call(payload, timeout=10))
    assert_clear(code, details)
    if code != grpc.StatusCode.OK or method == "GetSequence" or method == "GetSequences":
        assert snapshot(stub, []) == before


def test_still_healthy_after_the_onslaught(server: Served, stub) -> None:
    assert server.healthy()
    reply = stub.GetSequence(user_state_pb2.GetSequenceRequest(user_id="seed-0"), timeout=10)
    assert {"s0", "s1", "s2"} <= {e.event_id for e in reply.sequence.events}
