"""Bad input is rejected with the offending field named, and a rejected batch writes nothing (both stores)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kairos.service.errors import InvalidArgument
from kairos.v1 import events_pb2, user_state_pb2
from tests.user_state.builders import T0, now_ms
from tests.user_state.conftest import MakeStore
from user_state.servicer import UserStateServicer
from user_state.settings import MS_PER_DAY, UserStateSettings
from user_state.store.base import SequenceFilter
from user_state.validation import Validator

SETTINGS = UserStateSettings(max_batch=10, max_users_per_call=4, max_id_bytes=8, metrics_port=None)


def good(i: int = 0, **fields: object) -> events_pb2.Event:
    values = {"event_id": f"e{i}", "user_id": "u", "item_id": "it", "timestamp_ms": T0 + i, **fields}
    return events_pb2.Event(**values)


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        ({"event_id": ""}, "events[2].event_id", "must not be empty"),
        ({"user_id": ""}, "events[2].user_id", "must not be empty"),
        ({"item_id": ""}, "events[2].item_id", "must not be empty"),
        ({"user_id": "x" * 9}, "events[2].user_id", "9 bytes, longer than the limit of 8"),
        ({"item_id": "é" * 5}, "events[2].item_id", "10 bytes"),  # bytes, not characters
        ({"timestamp_ms": 0}, "events[2].timestamp_ms", "must be > 0"),
        ({"timestamp_ms": -5}, "events[2].timestamp_ms", "must be > 0"),
        ({"timestamp_ms": 1_700_000_000}, "events[2].timestamp_ms", "looks like seconds; send milliseconds"),
        ({"timestamp_ms": 2**63 - 1}, "events[2].timestamp_ms", "after the server clock"),
        ({"domain": "d" * 65}, "events[2].domain", "longer than the limit of 64"),
        ({"event_type": "t" * 65}, "events[2].event_type", "longer than the limit of 64"),
    ],
)
def test_bad_event_names_its_field(bad: dict, field: str, words: str) -> None:
    batch = [good(0), good(1), good(2, **bad), good(3)]
    with pytest.raises(InvalidArgument) as err:
        Validator(SETTINGS).events(batch)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    assert words in str(err.value)


def test_timestamp_bounds() -> None:
    v = Validator(SETTINGS)
    v.timestamp("t", now_ms() + MS_PER_DAY - 60_000, now_ms())  # up to a day ahead is clock skew, fine
    v.timestamp("t", SETTINGS.min_timestamp_ms, now_ms())
    with pytest.raises(InvalidArgument, match="before"):
        v.timestamp("t", SETTINGS.min_timestamp_ms - 1, now_ms())
    with pytest.raises(InvalidArgument, match="after the server clock"):
        v.timestamp("t", now_ms() + MS_PER_DAY + 60_000, now_ms())


def test_batch_size_limits() -> None:
    v = Validator(SETTINGS)
    with pytest.raises(InvalidArgument, match=r"^events: must hold at least one event"):
        v.events([])
    with pytest.raises(InvalidArgument, match=r"^events: 11 events exceed max_batch=10"):
        v.events([good(i) for i in range(11)])
    assert len(v.events([good(i) for i in range(10)])) == 10


def test_user_ids_and_filter() -> None:
    v = Validator(SETTINGS)
    with pytest.raises(InvalidArgument, match=r"^user_ids: must hold at least one"):
        v.user_ids([])
    with pytest.raises(InvalidArgument, match=r"^user_ids: 5 user ids exceed max_users_per_call=4"):
        v.user_ids(["a"] * 5)
    with pytest.raises(InvalidArgument, match=r"^user_ids\[1\]: must not be empty"):
        v.user_ids(["a", ""])
    with pytest.raises(InvalidArgument, match=r"^filter\.limit: must be >= 0"):
        v.filter(user_state_pb2.SequenceFilter(limit=-1))
    with pytest.raises(InvalidArgument, match=r"^filter\.since_ms: must be >= 0"):
        v.filter(user_state_pb2.SequenceFilter(since_ms=-1))
    with pytest.raises(InvalidArgument, match=r"^filter\.until_ms: must be greater than since_ms"):
        v.filter(user_state_pb2.SequenceFilter(since_ms=T0, until_ms=T0))
    # limit 0 and limits above the cap both mean "up to the cap".
    assert v.filter(user_state_pb2.SequenceFilter()) == SequenceFilter(limit=SETTINGS.max_events_per_user)
    assert v.filter(user_state_pb2.SequenceFilter(limit=10**6)).limit == SETTINGS.max_events_per_user


@pytest.mark.parametrize(
    ("env", "value", "words"),
    [
        ("KAIROS_USER_STATE_STORE", "mongo", "store"),
        ("KAIROS_USER_STATE_MAX_BATCH", "0", "max_batch"),
        ("KAIROS_USER_STATE_SYNC", "sometimes", "sync"),
        ("KAIROS_USER_STATE_REDIS_URL", "http://x", "redis_url"),
    ],
)
def test_bad_settings_name_the_setting(monkeypatch: pytest.MonkeyPatch, env: str, value: str, words: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError, match=words):
        UserStateSettings()


def test_unknown_setting_in_file_is_an_error(tmp_path) -> None:
    config = tmp_path / "user_state.yaml"
    config.write_text("store: embedded\nmax_event_per_user: 10\n")  # typo
    with pytest.raises(ValidationError, match="max_event_per_user"):
        UserStateSettings.load(config)
    config.write_text("store: redis\nmax_events_per_user: 10\nport: 6000\n")
    loaded = UserStateSettings.load(config, port=7000)
    assert (loaded.store, loaded.max_events_per_user, loaded.port) == ("redis", 10, 7000)


async def test_invalid_batch_writes_nothing(make_store: MakeStore) -> None:
    store = await make_store()
    servicer = UserStateServicer(store, Validator(SETTINGS))
    batch = user_state_pb2.AppendEventsRequest(
        events=[good(0), good(1, user_id="other"), good(2), good(3, timestamp_ms=-1)]
    )
    with pytest.raises(InvalidArgument, match=r"^events\[3\]\.timestamp_ms"):
        await servicer.AppendEvents(batch, context=None)
    assert await store.get_sequences(["u", "other"], SequenceFilter()) == [[], []]
    # The corrected batch goes through whole.
    batch.events[3].timestamp_ms = T0 + 3
    reply = await servicer.AppendEvents(batch, context=None)
    assert (reply.appended, reply.duplicates) == (4, 0)
