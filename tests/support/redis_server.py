"""A real redis-server on a random loopback port (kairos.harness), as the tests import it."""

from __future__ import annotations

from kairos.harness.redis_server import REDIS_SERVER, RedisServer, redis_available

__all__ = ["REDIS_SERVER", "RedisServer", "redis_available"]
