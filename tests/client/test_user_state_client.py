"""UserStateClient and SyncUserStateClient against a real user-state server (embedded store)."""

from __future__ import annotations

import uuid

import pytest

from kairos.client import Event, InvalidArgumentError, SyncUserStateClient, UserStateClient

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000


def _user() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


async def test_append_read_and_delete_a_user(user_state_address: str) -> None:
    user, other = _user(), _user()
    events = [Event(f"e{n}", user, f"i{n}", T0 + n, domain="movies" if n % 2 else "") for n in range(4)]
    async with UserStateClient(user_state_address) as client:
        first = await client.append_events([*events, Event("o1", other, "x", T0)])
        again = await client.append_events(events[:2])  # a retry: idempotent on (user_id, event_id)
        assert (first.appended, first.duplicates, again.appended, again.duplicates) == (5, 0, 0, 2)

        sequence = await client.get_sequence(user)
        assert sequence.user_id == user and list(sequence.events) == events  # oldest first, every field kept
        assert (await client.get_sequence(user, limit=2)).item_ids == ["i2", "i3"]
        assert (await client.get_sequence(user, since_ms=T0 + 1, until_ms=T0 + 3)).item_ids == ["i1", "i2"]
        assert (await client.get_sequence(user, domain="movies")).item_ids == ["i1", "i3"]

        both = await client.get_sequences([other, user, "nobody-" + user], limit=1)
        assert [s.item_ids for s in both] == [["x"], ["i3"], []]

        assert await client.delete_user(user) == 4
        assert (await client.get_sequence(user)).events == ()


async def test_bad_events_raise_invalid_argument_naming_the_field(user_state_address: str) -> None:
    user = _user()
    async with UserStateClient(user_state_address) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            await client.append_events([Event("ok", user, "i", T0), Event("bad", user, "i", 0)])
    assert caught.value.field == "events[1].timestamp_ms"
    assert "events[1].timestamp_ms" in str(caught.value) and caught.value.message.startswith("events[1]")
    assert not caught.value.retryable


def test_the_blocking_client_does_the_same(user_state_address: str) -> None:
    user = _user()
    with SyncUserStateClient(user_state_address) as client:
        assert client.append_events([Event("e1", user, "i1", T0), Event("e2", user, "i2", T0 + 1)]).appended == 2
        assert client.get_sequence(user).item_ids == ["i1", "i2"]
        assert [s.item_ids for s in client.get_sequences([user])] == [["i1", "i2"]]
        with pytest.raises(InvalidArgumentError, match="user_id"):
            client.get_sequence("")
        assert client.delete_user(user) == 2
