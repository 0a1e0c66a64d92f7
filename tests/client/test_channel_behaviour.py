"""Deadlines, retries on UNAVAILABLE and bearer tokens, through the clients, against real servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kairos.client import (
    ChannelSettings,
    DeadlineExceededError,
    Event,
    KairosError,
    SyncUserStateClient,
    UnauthenticatedError,
    UnavailableError,
    UserStateClient,
)
from tests.client.scripted import ScriptedUserState
from tests.reliability.servers import ClientCredentials, Served, start_user_state

pytestmark = pytest.mark.integration

TOKEN = "client-test-token-3b9d0e7f1a"


async def test_the_default_deadline_cuts_a_slow_call_and_a_call_may_extend_it(scripted: ScriptedUserState) -> None:
    scripted.delay_s = 0.5
    async with UserStateClient(scripted.address, timeout_s=0.1) as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError) as caught:
            await client.get_sequence("u1")
        assert time.monotonic() - start < 0.45
        assert caught.value.retryable and isinstance(caught.value, KairosError)
        sequence = await client.get_sequence("u1", timeout_s=5.0)  # the per-call deadline wins
        assert sequence.user_id == "u1" and sequence.item_ids == ["i1"]


def test_the_blocking_client_enforces_its_deadline_too(scripted: ScriptedUserState) -> None:
    scripted.delay_s = 0.5
    with SyncUserStateClient(scripted.address, timeout_s=0.1) as client:
        with pytest.raises(DeadlineExceededError):
            client.get_sequence("u1")
        assert client.get_sequence("u1", timeout_s=5.0).item_ids == ["i1"]


async def test_unavailable_is_retried_by_the_channel(scripted: ScriptedUserState) -> None:
    scripted.fail_first = 1
    async with UserStateClient(ChannelSettings(address=scripted.address, max_attempts=3)) as client:
        result = await client.append_events([Event("e1", "u1", "i1", 1)])
    assert result.appended == 1
    assert scripted.attempts == 2  # the failed attempt and its retry


def test_the_blocking_client_retries_unavailable_too(scripted: ScriptedUserState) -> None:
    scripted.fail_first = 2
    with SyncUserStateClient(ChannelSettings(address=scripted.address, max_attempts=3)) as client:
        assert client.get_sequence("u1").item_ids == ["i1"]
    assert scripted.attempts == 3


async def test_without_retries_unavailable_surfaces_with_the_servers_message(scripted: ScriptedUserState) -> None:
    scripted.fail_first = 1
    async with UserStateClient(ChannelSettings(address=scripted.address, max_attempts=1)) as client:
        with pytest.raises(UnavailableError, match="scripted failure of attempt 1"):
            await client.get_sequence("u1")
    assert scripted.attempts == 1


async def test_token_and_extra_metadata_are_sent_with_every_call(scripted: ScriptedUserState) -> None:
    async with UserStateClient(scripted.address, token=TOKEN, metadata=[("x-request-source", "tests")]) as client:
        await client.get_sequence("u1")
        await client.append_events([Event("e1", "u1", "i1", 1)])
    assert [m.get("authorization") for m in scripted.metadata] == [f"Bearer {TOKEN}"] * 2
    assert all(m.get("x-request-source") == "tests" for m in scripted.metadata)


@pytest.fixture(scope="module")
def guarded_user_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A real user-state server accepting only TOKEN (tokens file as the auth tests mount it)."""
    workdir = tmp_path_factory.mktemp("guarded-user-state")
    tokens = workdir / "tokens"
    tokens.write_text(f"# test tokens\n{TOKEN}\n")
    env = {"KAIROS_USER_STATE_AUTH_TOKENS_FILE": str(tokens)}
    served = start_user_state(workdir, env=env, creds=ClientCredentials(token=TOKEN))
    yield served
    served.stop()


async def test_a_real_server_accepts_the_token_and_refuses_calls_without_it(
    guarded_user_state: Served, tmp_path: Path
) -> None:
    address = guarded_user_state.address
    async with UserStateClient(address, token=TOKEN) as client:
        assert (await client.append_events([Event("t1", "tok-user", "i1", 1_700_000_000_000)])).appended == 1
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    async with UserStateClient(ChannelSettings(address=address, auth_token_file=token_file)) as client:
        assert (await client.get_sequence("tok-user")).item_ids == ["i1"]
    with SyncUserStateClient(ChannelSettings(address=address, auth_token_file=token_file)) as blocking:
        assert blocking.get_sequence("tok-user").item_ids == ["i1"]
    for token in (None, "not-the-token"):
        async with UserStateClient(address, token=token) as client:
            with pytest.raises(UnauthenticatedError, match="bearer token"):
                await client.get_sequence("tok-user")


def test_a_token_is_given_once() -> None:
    settings = ChannelSettings(address="127.0.0.1:1", auth_token_file=Path("/nonexistent"))
    with pytest.raises(ValueError, match="not both"):
        SyncUserStateClient(settings, token=TOKEN)
    with pytest.raises(ValueError, match="empty"):
        SyncUserStateClient("127.0.0.1:1", token=" ")
