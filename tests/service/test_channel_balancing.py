"""create_channel's lb_policy: round_robin spreads calls over every resolved address, pick_first pins one."""

from __future__ import annotations

import pytest

from kairos.service.channel import ChannelSettings, create_channel
from kairos.v1 import user_state_pb2, user_state_pb2_grpc

CALLS = 20


async def _spread(target: str, lb_policy: str | None, max_attempts: int, servicers: list) -> list[int]:
    before = [s.completed for s in servicers]
    channel = create_channel(ChannelSettings(address=target, lb_policy=lb_policy, max_attempts=max_attempts))
    try:
        await channel.channel_ready()
        stub = user_state_pb2_grpc.UserStateStub(channel)
        for i in range(CALLS):
            await stub.GetSequence(user_state_pb2.GetSequenceRequest(user_id=f"u{i}"), timeout=5)
    finally:
        await channel.close()
    return [s.completed - b for s, b in zip(servicers, before, strict=True)]


@pytest.mark.parametrize("max_attempts", [1, 3])
async def test_round_robin_spreads_calls_over_every_address(make_server, max_attempts: int) -> None:
    (a, sa), (b, sb) = await make_server(), await make_server()
    target = f"ipv4:127.0.0.1:{a.port},127.0.0.1:{b.port}"
    counts = await _spread(target, "round_robin", max_attempts, [sa, sb])
    assert sum(counts) == CALLS
    assert min(counts) >= CALLS // 2 - 2, counts


async def test_default_policy_pins_one_address(make_server) -> None:
    (a, sa), (b, sb) = await make_server(), await make_server()
    counts = await _spread(f"ipv4:127.0.0.1:{a.port},127.0.0.1:{b.port}", None, 1, [sa, sb])
    assert sorted(counts) == [0, CALLS], counts


async def test_dns_target_with_round_robin_reaches_the_server(make_server) -> None:
    server, servicer = await make_server()
    counts = await _spread(f"dns:///localhost:{server.port}", "round_robin", 1, [servicer])
    assert counts == [CALLS]


def test_unknown_policy_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValueError, match="lb_policy"):
        ChannelSettings(address="127.0.0.1:1", lb_policy="random")  # type: ignore[arg-type]
