"""The Redis store, for scale-out: one sorted set per user, appended and trimmed atomically by a Lua script.

Key layout (the `{<user_id>}` hash tag keeps a user's keys in one Redis Cluster slot):
    <prefix>:{<user_id>}:seq   sorted set, score = timestamp_ms, member = 16-digit arrival counter
                               + 4-digit event-id length + event_id + serialized kairos.v1.Event
    <prefix>:{<user_id>}:ids   set of the event ids the user retains (the idempotency check)
    <prefix>:{<user_id>}:ctr   per-user arrival counter (INCR)
Members with equal scores sort lexicographically, so the zero-padded counter keeps arrival order among events
with the same timestamp. With a TTL, every append re-arms PEXPIRE on all three keys (inactivity expiry).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from kairos.service.errors import Unavailable
from user_state import wire
from user_state.events import Event, from_wire
from user_state.metrics import StoreMetrics
from user_state.settings import UserStateSettings
from user_state.store.base import AppendResult, EventStore, SequenceFilter

if TYPE_CHECKING:
    from user_state.event_log.redis_stream import StreamTarget

log = logging.getLogger(__name__)

COUNTER_DIGITS = 16
ID_LEN_DIGITS = 4  # ids are at most max_id_bytes <= 4096 bytes
_HEADER = COUNTER_DIGITS + ID_LEN_DIGITS

# KEYS: seq, ids, ctr[, event-log stream]. ARGV: cap, ttl_ms (0 = none), stream MINID ('' = no trim), then
# (event_id, timestamp_ms, wire) per event. Returns {appended, duplicates}. Runs atomically, so a user's sequence
# never exceeds the cap. With a stream key, each newly accepted event is XADDed to it before it is stored (a
# failing XADD aborts the script before the store changes): store and event log never disagree.
APPEND_SCRIPT = """
local seq, ids, ctr, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cap, ttl, minid = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local fresh, seen = {}, {}
local duplicates = 0
for i = 4, #ARGV, 3 do
  local event_id = ARGV[i]
  if seen[event_id] or redis.call('SISMEMBER', ids, event_id) == 1 then
    duplicates = duplicates + 1
  else
    seen[event_id] = true
    fresh[#fresh + 1] = i
  end
end
if stream then
  for _, i in ipairs(fresh) do
    if minid ~= '' then
      redis.call('XADD', stream, 'MINID', '~', minid, '*', 'e', ARGV[i + 2])
    else
      redis.call('XADD', stream, '*', 'e', ARGV[i + 2])
    end
  end
end
for _, i in ipairs(fresh) do
  local event_id = ARGV[i]
  redis.call('SADD', ids, event_id)
  local n = redis.call('INCR', ctr)
  local member = string.format('%016d%04d', n, #event_id) .. event_id .. ARGV[i + 2]
  redis.call('ZADD', seq, ARGV[i + 1], member)
end
local excess = redis.call('ZCARD', seq) - cap
if excess > 0 then
  local old = redis.call('ZRANGE', seq, 0, excess - 1)
  for _, member in ipairs(old) do
    local id_len = tonumber(string.sub(member, 17, 20))
    redis.call('SREM', ids, string.sub(member, 21, 20 + id_len))
  end
  redis.call('ZREMRANGEBYRANK', seq, 0, excess - 1)
end
if ttl > 0 then
  redis.call('PEXPIRE', seq, ttl)
  redis.call('PEXPIRE', ids, ttl)
  redis.call('PEXPIRE', ctr, ttl)
end
return {#fresh, duplicates}
"""

# KEYS: seq, ids, ctr[, event-log stream]. ARGV: stream MINID ('' = no trim), user_id. Returns how many events
# were removed. With a stream key the deletion is XADDed (`d`: the user id) in the same script: the event log
# records every deletion the store applies, so that training drops the user's earlier events.
DELETE_SCRIPT = """
local n = redis.call('ZCARD', KEYS[1])
if KEYS[4] then
  if ARGV[1] ~= '' then
    redis.call('XADD', KEYS[4], 'MINID', '~', ARGV[1], '*', 'd', ARGV[2])
  else
    redis.call('XADD', KEYS[4], '*', 'd', ARGV[2])
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return n
"""

_FAILURES = (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError, OSError)


def member_wire(member: bytes) -> bytes:
    """The serialized Event inside a sorted-set member."""
    id_len = int(member[COUNTER_DIGITS:_HEADER])
    return member[_HEADER + id_len :]


class RedisStore(EventStore):
    """Sequences in Redis (a single server, or any Redis reachable through one URL)."""

    name = "redis"

    def __init__(
        self, settings: UserStateSettings, metrics: StoreMetrics | None = None, event_log: StreamTarget | None = None
    ) -> None:
        self.cap = settings.max_events_per_user
        self.ttl_ms = max(1, round(settings.ttl_s * 1000)) if settings.ttl_s is not None else 0
        self.prefix = settings.redis_key_prefix
        self.metrics = metrics or StoreMetrics()
        self.event_log = event_log  # the append script XADDs accepted events to this stream
        self.pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_pool_size,
            timeout=settings.redis_socket_timeout_s,
            socket_timeout=settings.redis_socket_timeout_s,
            socket_connect_timeout=settings.redis_socket_timeout_s,
            health_check_interval=30,
        )
        self.redis = aioredis.Redis(connection_pool=self.pool)
        self._append = self.redis.register_script(APPEND_SCRIPT)
        self._delete = self.redis.register_script(DELETE_SCRIPT)
        self._url = settings.redis_url

    def keys(self, user_id: str) -> list[str]:
        """The user's [seq, ids, ctr] keys, sharing one hash tag."""
        base = f"{self.prefix}:{{{user_id}}}"
        return [f"{base}:seq", f"{base}:ids", f"{base}:ctr"]

    async def start(self) -> None:
        await self.ping()
        log.info("redis store connected", extra={"url": self._url.split("@")[-1], "cap": self.cap})

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except _FAILURES as exc:
            raise Unavailable(f"redis unreachable: {exc}") from exc

    async def close(self) -> None:
        await self.redis.aclose()
        await self.pool.disconnect()

    async def append(self, events: Sequence[Event]) -> AppendResult:
        by_user: dict[str, list[bytes | str | int]] = {}
        stream = [self.event_log.key] if self.event_log is not None else []
        minid = self.event_log.minid() if self.event_log is not None else ""
        for event in events:
            args = by_user.get(event.user_id)
            if args is None:
                args = by_user[event.user_id] = [self.cap, self.ttl_ms, minid]
            args += (event.event_id, event.timestamp_ms, event.wire)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for user_id, args in by_user.items():
                    await self._append(keys=self.keys(user_id) + stream, args=args, client=pipe)
                replies = await pipe.execute()
        except (*_FAILURES, redis_errors.ResponseError) as exc:  # a failed XADD fails the call too
            if self.event_log is not None:
                self.event_log.metrics.failures.labels(self.event_log.name).inc()
            raise Unavailable(f"redis append failed: {exc}") from exc
        appended = sum(int(r[0]) for r in replies)
        duplicates = sum(int(r[1]) for r in replies)
        self.metrics.appended.labels(self.name).inc(appended)
        self.metrics.duplicates.labels(self.name).inc(duplicates)
        if self.event_log is not None:
            self.event_log.metrics.appended.labels(self.event_log.name).inc(appended)
        return AppendResult(appended, duplicates)

    async def _read_members(self, user_ids: Sequence[str], flt: SequenceFilter) -> list[list[bytes]]:
        """Each user's matching members, oldest first; with a domain filter, the whole time window."""
        high = f"({flt.until_ms}" if flt.until_ms else "+inf"
        low = str(flt.since_ms) if flt.since_ms else "-inf"
        # With a domain filter the limit applies after filtering, so fetch the whole window.
        count = self.cap if flt.domain or not flt.limit else flt.limit
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    pipe.execute_command(
                        "ZRANGE", self.keys(user_id)[0], high, low, "BYSCORE", "REV", "LIMIT", 0, count
                    )
                replies = await pipe.execute()
        except _FAILURES as exc:
            raise Unavailable(f"redis read failed: {exc}") from exc
        return [members[::-1] for members in replies]

    async def get_sequences(self, user_ids: Sequence[str], flt: SequenceFilter) -> list[list[Event]]:
        out: list[list[Event]] = []
        for members in await self._read_members(user_ids, flt):
            events = [from_wire(member_wire(m)) for m in members]
            if flt.domain:
                events = [e for e in events if e.domain == flt.domain]
                if flt.limit and len(events) > flt.limit:
                    events = events[len(events) - flt.limit :]
            out.append(events)
        return out

    async def get_encoded_sequences(self, user_ids: Sequence[str], flt: SequenceFilter) -> list[bytes]:
        """Members already hold serialized Events: without a domain filter they are sent on unparsed."""
        if flt.domain:
            return await super().get_encoded_sequences(user_ids, flt)
        out = []
        for user_id, members in zip(user_ids, await self._read_members(user_ids, flt), strict=True):
            body = b"".join([wire.sequence_field(member_wire(m)) for m in members])
            out.append(wire.sequence_with_events(user_id, body))
        return out

    async def delete_user(self, user_id: str) -> int:
        stream = [self.event_log.key] if self.event_log is not None else []
        minid = self.event_log.minid() if self.event_log is not None else ""
        try:
            removed = int(await self._delete(keys=self.keys(user_id) + stream, args=[minid, user_id]))
        except (*_FAILURES, redis_errors.ResponseError) as exc:  # a failed XADD fails the call too
            if self.event_log is not None:
                self.event_log.metrics.failures.labels(self.event_log.name).inc()
            raise Unavailable(f"redis delete failed: {exc}") from exc
        if self.event_log is not None:
            self.event_log.metrics.deletions.labels(self.event_log.name).inc()
        return removed
