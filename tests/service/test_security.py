"""TLS, mutual TLS and bearer tokens are configuration: the same server, switched on by settings."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kairos.service.channel import ChannelSettings, create_channel
from kairos.v1 import user_state_pb2, user_state_pb2_grpc
from tests.service.conftest import write_tokens
from tests.support.certs import make_pki

pytestmark = pytest.mark.integration

REQUEST = user_state_pb2.GetSequenceRequest(user_id="u")


async def call(channel: grpc.aio.Channel) -> str:
    reply = await user_state_pb2_grpc.UserStateStub(channel).GetSequence(REQUEST, timeout=3)
    return reply.sequence.user_id


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


async def test_bearer_token_required_except_for_health(make_server, tmp_path) -> None:
    tokens = write_tokens(tmp_path / "tokens", "s3cret-one", "s3cret-two")
    server, _ = await make_server(auth_tokens_file=tokens)
    async with grpc.aio.insecure_channel(server.address) as anonymous:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(anonymous)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        health = await health_pb2_grpc.HealthStub(anonymous).Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    (tmp_path / "wrong").write_text("s3cret-on\n")
    async with create_channel(ChannelSettings(address=server.address, auth_token_file=tmp_path / "wrong")) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(ch)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    (tmp_path / "right").write_text("s3cret-two\n")
    async with create_channel(ChannelSettings(address=server.address, auth_token_file=tmp_path / "right")) as ch:
        assert await call(ch) == "u"


async def test_tls_server_accepts_tls_clients_only(make_server, pki) -> None:
    server, _ = await make_server(tls_cert_file=pki.server_cert, tls_key_file=pki.server_key, host="127.0.0.1")
    address = f"localhost:{server.port}"
    async with create_channel(ChannelSettings(address=address, tls=True, tls_ca_file=pki.ca_cert)) as ch:
        assert await call(ch) == "u"
    async with grpc.aio.insecure_channel(address) as plaintext:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(plaintext)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_requires_a_client_certificate(make_server, pki) -> None:
    server, _ = await make_server(
        tls_cert_file=pki.server_cert, tls_key_file=pki.server_key, tls_client_ca_file=pki.ca_cert
    )
    address = f"localhost:{server.port}"
    no_cert = ChannelSettings(address=address, tls=True, tls_ca_file=pki.ca_cert, max_attempts=1)
    async with create_channel(no_cert) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(ch)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with_cert = no_cert.model_copy(update={"tls_cert_file": pki.client_cert, "tls_key_file": pki.client_key})
    async with create_channel(with_cert) as ch:
        assert await call(ch) == "u"
