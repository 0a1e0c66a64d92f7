"""TLS, mutual TLS, bearer tokens, message-size limits and secret hygiene of the real server processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kairos.service.channel import ChannelSettings
from kairos.v1 import events_pb2, ranker_pb2, ranker_pb2_grpc, user_state_pb2, user_state_pb2_grpc
from tests.reliability.servers import (
    RANKER,
    USER_STATE,
    ClientCredentials,
    Served,
    serving,
    start_ranker,
    start_user_state,
)
from tests.support import certs
from user_state.client import UserStateClient
from user_state.events import Event

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
TOKEN = "kairos-test-token-5f0c2b9e4d7a41f3"
SECOND_TOKEN = "second-accepted-token-8e1d"
WRONG_TOKEN = "not-the-token-77aa3c"
SMALL_MESSAGES = 64 * 1024
# Items of the tiny artifact's catalogue (MovieLens ids), so Recommend has a history to rank from.
RECENT = [events_pb2.Event(event_id=f"r{n}", item_id=str(n), timestamp_ms=T0 + n) for n in (1, 2, 3)]


def _tokens_file(directory: Path) -> Path:
    path = directory / "tokens"  # as a Kubernetes Secret mounts it: one file, one token per line
    path.write_text(f"# rotated 2026-11\n{TOKEN}\n\n{SECOND_TOKEN}\n")
    return path


def _tls_env(prefix: str, pki: certs.TestPki, mutual: bool) -> dict[str, str]:
    env = {f"{prefix}TLS_CERT_FILE": str(pki.server_cert), f"{prefix}TLS_KEY_FILE": str(pki.server_key)}
    if mutual:
        env[f"{prefix}TLS_CLIENT_CA_FILE"] = str(pki.ca_cert)
    return env


def _secure_env(prefix: str, pki: certs.TestPki, workdir: Path) -> dict[str, str]:
    """mTLS + bearer tokens + small messages + DEBUG logs."""
    return {
        **_tls_env(prefix, pki, mutual=True),
        f"{prefix}AUTH_TOKENS_FILE": str(_tokens_file(workdir)),
        f"{prefix}MAX_MESSAGE_BYTES": str(SMALL_MESSAGES),
        f"{prefix}LOG_LEVEL": "DEBUG",
    }


def _full_creds(pki: certs.TestPki, token: str | None = TOKEN) -> ClientCredentials:
    return ClientCredentials(pki.ca_cert, pki.client_cert, pki.client_key, token)


def _code(call) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _get(creds: ClientCredentials, address: str) -> grpc.StatusCode:
    with creds.channel(address) as channel:
        stub = user_state_pb2_grpc.UserStateStub(channel)
        return _code(
            lambda: stub.GetSequence(
                user_state_pb2.GetSequenceRequest(user_id="u"), timeout=5, metadata=creds.metadata()
            )
        )


def _assert_no_secrets(log: str, pki: certs.TestPki) -> None:
    for secret in (TOKEN, SECOND_TOKEN, WRONG_TOKEN):
        assert secret not in log, "a bearer token appears in the logs"
    for key in (pki.server_key, pki.client_key):
        body = [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
        assert not any(line in log for line in body), f"private key material of {key.name} appears in the logs"


def test_user_state_tls_accepts_only_tls_clients_trusting_its_ca(tmp_path: Path, pki: certs.TestPki, rogue_pki) -> None:
    creds = ClientCredentials(pki.ca_cert)
    served = start_user_state(tmp_path, env=_tls_env("KAIROS_USER_STATE_", pki, mutual=False), creds=creds)
    try:
        assert _get(creds, served.address) == grpc.StatusCode.OK
        assert _get(ClientCredentials(), served.address) == grpc.StatusCode.UNAVAILABLE  # plaintext
        assert _get(ClientCredentials(rogue_pki.ca_cert), served.address) == grpc.StatusCode.UNAVAILABLE
    finally:
        assert served.stop() == 0


@pytest.fixture(scope="module")
def secure_user_state(tmp_path_factory: pytest.TempPathFactory, pki: certs.TestPki) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("secure-user-state")
    env = _secure_env("KAIROS_USER_STATE_", pki, workdir)
    served = start_user_state(workdir, env=env, creds=_full_creds(pki))
    yield served
    assert served.stop() == 0


def test_user_state_mutual_tls_needs_a_client_certificate_from_the_ca(
    secure_user_state: Served, pki: certs.TestPki, rogue_pki: certs.TestPki
) -> None:
    address = secure_user_state.address
    assert _get(_full_creds(pki), address) == grpc.StatusCode.OK
    no_cert = ClientCredentials(pki.ca_cert, token=TOKEN)
    assert _get(no_cert, address) == grpc.StatusCode.UNAVAILABLE
    rogue_cert = ClientCredentials(pki.ca_cert, rogue_pki.client_cert, rogue_pki.client_key, TOKEN)
    assert _get(rogue_cert, address) == grpc.StatusCode.UNAVAILABLE


def test_user_state_bearer_tokens_from_a_mounted_file(secure_user_state: Served, pki: certs.TestPki) -> None:
    address = secure_user_state.address
    assert _get(_full_creds(pki, token=None), address) == grpc.StatusCode.UNAUTHENTICATED
    assert _get(_full_creds(pki, token=WRONG_TOKEN), address) == grpc.StatusCode.UNAUTHENTICATED
    assert _get(_full_creds(pki, token=TOKEN[:-1]), address) == grpc.StatusCode.UNAUTHENTICATED  # a prefix
    assert _get(_full_creds(pki, token=TOKEN + "x"), address) == grpc.StatusCode.UNAUTHENTICATED
    assert _get(_full_creds(pki, token=SECOND_TOKEN), address) == grpc.StatusCode.OK  # every listed token works
    with _full_creds(pki, token=None).channel(address) as channel:  # raw header without the Bearer scheme
        stub = user_state_pb2_grpc.UserStateStub(channel)
        request = user_state_pb2.GetSequenceRequest(user_id="u")
        code = _code(lambda: stub.GetSequence(request, timeout=5, metadata=(("authorization", TOKEN),)))
        assert code == grpc.StatusCode.UNAUTHENTICATED
    # Health checks are exempt, so a kubelet probe needs no token.
    assert serving(address, USER_STATE, _full_creds(pki, token=None))


async def test_user_state_client_speaks_mtls_with_a_token_file(
    secure_user_state: Served, pki: certs.TestPki, tmp_path: Path
) -> None:
    token_file = tmp_path / "client-token"
    token_file.write_text(TOKEN + "\n")
    settings = ChannelSettings(
        address=secure_user_state.address,
        tls=True,
        tls_ca_file=pki.ca_cert,
        tls_cert_file=pki.client_cert,
        tls_key_file=pki.client_key,
        auth_token_file=token_file,
    )
    async with UserStateClient(settings, default_timeout_s=5) as client:
        assert await client.append_events([Event("e1", "tls-user", "i1", T0)]) == (1, 0)
        assert [e.event_id for e in await client.get_sequence("tls-user")] == ["e1"]


def test_user_state_enforces_max_message_size(secure_user_state: Served, pki: certs.TestPki) -> None:
    creds = _full_creds(pki)
    big = [
        events_pb2.Event(event_id=f"big-{n}", user_id="big-user", item_id="x" * 200, timestamp_ms=T0 + n)
        for n in range(400)
    ]  # about 100 KB > 64 KiB
    with creds.channel(secure_user_state.address) as channel:
        stub = user_state_pb2_grpc.UserStateStub(channel)
        request = user_state_pb2.AppendEventsRequest(events=big)
        code = _code(lambda: stub.AppendEvents(request, timeout=5, metadata=creds.metadata()))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        reply = stub.GetSequence(
            user_state_pb2.GetSequenceRequest(user_id="big-user"), timeout=5, metadata=creds.metadata()
        )
        assert list(reply.sequence.events) == []  # nothing of the refused request was stored
    assert secure_user_state.healthy()


def test_user_state_never_logs_secrets(secure_user_state: Served, pki: certs.TestPki) -> None:
    for creds in (_full_creds(pki), _full_creds(pki, WRONG_TOKEN), _full_creds(pki, SECOND_TOKEN)):
        _get(creds, secure_user_state.address)
    log = secure_user_state.proc.log_text()
    assert "DEBUG" in log, "the server did not log at DEBUG: the check would prove nothing"
    _assert_no_secrets(log, pki)


@pytest.fixture(scope="module")
def secure_ranker(
    tmp_path_factory: pytest.TempPathFactory, pki: certs.TestPki, artifact: Path, secure_user_state: Served
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("secure-ranker")
    env = _secure_env("KAIROS_RANKER_", pki, workdir)
    served = start_ranker(workdir, artifact, secure_user_state.address, env=env, creds=_full_creds(pki))
    yield served
    assert served.stop() == 0


def _recommend(creds: ClientCredentials, address: str) -> tuple[grpc.StatusCode, ranker_pb2.RecommendResponse | None]:
    with creds.channel(address) as channel:
        stub = ranker_pb2_grpc.RankerStub(channel)
        try:
            reply = stub.Recommend(
                ranker_pb2.RecommendRequest(user_id="tls-user", k=5, recent_events=RECENT),
                timeout=10,
                metadata=creds.metadata(),
            )
        except grpc.RpcError as exc:
            return exc.code(), None
        return grpc.StatusCode.OK, reply


def test_ranker_mtls_and_tokens(secure_ranker: Served, pki: certs.TestPki, rogue_pki: certs.TestPki) -> None:
    address = secure_ranker.address
    code, reply = _recommend(_full_creds(pki), address)
    assert code == grpc.StatusCode.OK and len(reply.items) == 5
    assert _recommend(_full_creds(pki, token=None), address)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert _recommend(_full_creds(pki, token=WRONG_TOKEN), address)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert _recommend(ClientCredentials(pki.ca_cert, token=TOKEN), address)[0] == grpc.StatusCode.UNAVAILABLE
    rogue = ClientCredentials(pki.ca_cert, rogue_pki.client_cert, rogue_pki.client_key, TOKEN)
    assert _recommend(rogue, address)[0] == grpc.StatusCode.UNAVAILABLE
    assert _recommend(ClientCredentials(), address)[0] == grpc.StatusCode.UNAVAILABLE
    assert serving(address, RANKER, _full_creds(pki, token=None))  # health exempt


def test_ranker_enforces_max_message_size(secure_ranker: Served, pki: certs.TestPki) -> None:
    creds = _full_creds(pki)
    item = ranker_pb2.Item(item_id="huge", text="poster", image=b"\xff\xd8" + b"\0" * (2 * SMALL_MESSAGES))
    with creds.channel(secure_ranker.address) as channel:
        stub = ranker_pb2_grpc.RankerStub(channel)
        request = ranker_pb2.UpsertItemsRequest(items=[item])
        code = _code(lambda: stub.UpsertItems(request, timeout=10, metadata=creds.metadata()))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert secure_ranker.healthy()


def test_ranker_never_logs_secrets(secure_ranker: Served, pki: certs.TestPki) -> None:
    for token in (TOKEN, WRONG_TOKEN, None):
        _recommend(_full_creds(pki, token), secure_ranker.address)
    log = secure_ranker.proc.log_text()
    assert "DEBUG" in log, "the ranker did not log at DEBUG: the check would prove nothing"
    _assert_no_secrets(log, pki)


async def test_ranker_reaches_a_secured_user_state(
    tmp_path: Path, pki: certs.TestPki, artifact: Path, secure_user_state: Served
) -> None:
    token_file = tmp_path / "ranker-token"
    token_file.write_text(TOKEN + "\n")
    env = {  # the names the ranker would need, following ChannelSettings
        "KAIROS_RANKER_USER_STATE__TLS": "true",
        "KAIROS_RANKER_USER_STATE__TLS_CA_FILE": str(pki.ca_cert),
        "KAIROS_RANKER_USER_STATE__TLS_CERT_FILE": str(pki.client_cert),
        "KAIROS_RANKER_USER_STATE__TLS_KEY_FILE": str(pki.client_key),
        "KAIROS_RANKER_USER_STATE__AUTH_TOKEN_FILE": str(token_file),
    }
    creds = _full_creds(pki)
    with creds.channel(secure_user_state.address) as channel:
        user_state_pb2_grpc.UserStateStub(channel).AppendEvents(
            user_state_pb2.AppendEventsRequest(
                events=[events_pb2.Event(event_id="h1", user_id="secured", item_id="1", timestamp_ms=T0)]
            ),
            timeout=5,
            metadata=creds.metadata(),
        )
    ranker = start_ranker(tmp_path, artifact, secure_user_state.address, name="plain-ranker", env=env)
    try:
        with grpc.insecure_channel(ranker.address) as channel:
            reply = ranker_pb2_grpc.RankerStub(channel).Recommend(
                ranker_pb2.RecommendRequest(user_id="secured", k=5), timeout=10
            )
        assert list(reply.degradations) == [], list(reply.degradations)
        assert reply.history_length == 1
    finally:
        await asyncio.to_thread(ranker.stop)
