"""Scoped tokens: every RPC of both services against a token of every scope, on real server processes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from kairos.service.auth import load_tokens
from kairos.service.scopes import ADMIN, REQUIRED_SCOPE, SCOPES, allows
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

pytestmark = pytest.mark.integration

TOKENS = {scope: f"token-{scope.replace(':', '-')}-91c3" for scope in sorted(SCOPES)}
TOKENS["all (bare)"] = "legacy-bare-token-77f0"
T0 = 1_700_000_000_000


def _tokens_file(directory: Path) -> Path:
    path = directory / "tokens"
    lines = ["# scoped tokens"] + [f"{t}  {s}" for s, t in TOKENS.items() if s in SCOPES] + [TOKENS["all (bare)"]]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_tokens_file_parses_scopes_and_warns_about_bare_tokens(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "tokens"
    path.write_text("# c\nabc recommend\n\ndef events:read, events:write\nbare\n")
    with caplog.at_level(logging.WARNING):
        tokens = load_tokens(path)
    assert [(t.secret, t.scopes) for t in tokens] == [
        (b"abc", frozenset({"recommend"})),
        (b"def", frozenset({"events:read", "events:write"})),
        (b"bare", SCOPES),
    ]
    # structured: the event names the case, the count is a field (kairos/service/logs.py)
    assert [(r.getMessage(), r.tokens) for r in caplog.records] == [
        ("token(s) without scopes are granted every scope", 1)
    ]
    path.write_text("abc recommend\nxyz items:read\n")
    with pytest.raises(ValueError, match=r"line 2: unknown scope\(s\) \['items:read'\]"):
        load_tokens(path)


def test_every_rpc_has_a_scope_and_unknown_methods_need_admin() -> None:
    assert set(REQUIRED_SCOPE.values()) <= SCOPES
    assert allows(frozenset({ADMIN}), "/kairos.v1.Ranker/SomethingNew")
    assert not allows(frozenset({"recommend"}), "/kairos.v1.Ranker/SomethingNew")
    assert allows(frozenset(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, artifact: Path) -> Iterator[tuple[Served, Served]]:
    workdir = tmp_path_factory.mktemp("scopes")
    tokens = _tokens_file(workdir)
    admin = ClientCredentials(token=TOKENS[ADMIN])
    user_state = start_user_state(workdir, env={"KAIROS_USER_STATE_AUTH_TOKENS_FILE": str(tokens)}, creds=admin)
    reader = workdir / "ranker-token"
    reader.write_text(TOKENS["events:read"] + "\n")  # the ranker reads histories with the narrowest scope
    ranker = start_ranker(
        workdir,
        artifact,
        user_state.address,
        env={"KAIROS_RANKER_AUTH_TOKENS_FILE": str(tokens), "KAIROS_RANKER_USER_STATE__AUTH_TOKEN_FILE": str(reader)},
        creds=admin,
    )
    yield user_state, ranker
    ranker.stop()
    user_state.stop()


def _calls(user_state: Served, ranker: Served) -> dict[str, Callable[[grpc.Channel, tuple], object]]:
    event = events_pb2.Event(event_id="e1", user_id="scoped-user", item_id="1", timestamp_ms=T0)
    us, rk = user_state_pb2_grpc.UserStateStub, ranker_pb2_grpc.RankerStub
    return {
        "/kairos.v1.UserState/AppendEvents": lambda ch, md: us(ch).AppendEvents(
            user_state_pb2.AppendEventsRequest(events=[event]), timeout=10, metadata=md
        ),
        "/kairos.v1.UserState/GetSequence": lambda ch, md: us(ch).GetSequence(
            user_state_pb2.GetSequenceRequest(user_id="scoped-user"), timeout=10, metadata=md
        ),
        "/kairos.v1.UserState/GetSequences": lambda ch, md: us(ch).GetSequences(
            user_state_pb2.GetSequencesRequest(user_ids=["scoped-user"]), timeout=10, metadata=md
        ),
        "/kairos.v1.UserState/DeleteUser": lambda ch, md: us(ch).DeleteUser(
            user_state_pb2.DeleteUserRequest(user_id="someone-else"), timeout=10, metadata=md
        ),
        "/kairos.v1.Ranker/Recommend": lambda ch, md: rk(ch).Recommend(
            ranker_pb2.RecommendRequest(user_id="scoped-user", k=3), timeout=10, metadata=md
        ),
        "/kairos.v1.Ranker/SimilarItems": lambda ch, md: rk(ch).SimilarItems(
            ranker_pb2.SimilarItemsRequest(item_id="1", k=3), timeout=10, metadata=md
        ),
        "/kairos.v1.Ranker/UpsertItems": lambda ch, md: rk(ch).UpsertItems(
            ranker_pb2.UpsertItemsRequest(items=[ranker_pb2.Item(item_id="scoped-item")]), timeout=60, metadata=md
        ),
        "/kairos.v1.Ranker/DeleteItems": lambda ch, md: rk(ch).DeleteItems(
            ranker_pb2.DeleteItemsRequest(item_ids=["no-such-item"]), timeout=10, metadata=md
        ),
    }


def test_every_rpc_times_every_scope(servers: tuple[Served, Served]) -> None:
    user_state, ranker = servers
    assert set(_calls(user_state, ranker)) == set(REQUIRED_SCOPE)  # every RPC with a scope is exercised
    outcomes: dict[tuple[str, str], grpc.StatusCode] = {}
    for method, call in _calls(user_state, ranker).items():
        address = user_state.address if "UserState" in method else ranker.address
        for scope, token in TOKENS.items():
            with grpc.insecure_channel(address) as channel:
                try:
                    call(channel, (("authorization", f"Bearer {token}"),))
                    outcomes[method, scope] = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    outcomes[method, scope] = exc.code()
                    if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
                        assert f"token lacks scope '{REQUIRED_SCOPE[method]}' required by {method}" in exc.details()
    for (method, scope), code in outcomes.items():
        granted = scope == "all (bare)" or scope in (REQUIRED_SCOPE[method], ADMIN)
        if granted:
            # past authorisation: the call ran (an item without content is a per-item error, not a failure)
            assert code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), (method, scope)
            assert code == grpc.StatusCode.OK, (method, scope, code)
        else:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (method, scope, code)
    # no token at all is unauthenticated, whatever the RPC; health stays open
    with grpc.insecure_channel(ranker.address) as channel, pytest.raises(grpc.RpcError) as info:
        ranker_pb2_grpc.RankerStub(channel).Recommend(ranker_pb2.RecommendRequest(user_id="u", k=1), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert serving(ranker.address, RANKER, ClientCredentials()) and serving(user_state.address, USER_STATE)
