"""Replica fan-out: every upsert and delete is appended to one Redis Stream that every ranker replica tails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from ranker.catalog.records import ItemRecord, decode_records, encode_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedEntry:
    """One stream entry: an upsert of ``records`` or a delete of ``item_ids``."""

    entry_id: str
    origin: str
    records: list[ItemRecord]
    deleted_ids: list[str]


class FeedUnavailable(RuntimeError):
    """Redis could not be reached; the write was not published."""


EntryHandler = Callable[[FeedEntry], Awaitable[None]]


class RedisItemFeed:
    """Publishes item changes with XADD and tails them with XREAD BLOCK from the last applied entry id."""

    def __init__(self, url: str, stream: str, replica_id: str, block_ms: int = 1000, timeout_s: float = 2.0) -> None:
        self.stream = stream
        self.replica_id = replica_id
        self.block_ms = block_ms
        self._redis = aioredis.from_url(
            url, socket_timeout=timeout_s + block_ms / 1000, socket_connect_timeout=timeout_s
        )
        self._timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.cursor = "0-0"

    async def publish_upsert(self, records: list[ItemRecord]) -> str:
        """Append an upsert entry; return its id. Raises FeedUnavailable when Redis is down."""
        return await self._add({"kind": "upsert", "origin": self.replica_id, "payload": encode_records(records)})

    async def publish_delete(self, item_ids: list[str]) -> str:
        return await self._add({"kind": "delete", "origin": self.replica_id, "payload": "\n".join(item_ids)})

    async def _add(self, fields: dict[FieldT, EncodableT]) -> str:
        try:
            entry_id = await asyncio.wait_for(self._redis.xadd(self.stream, fields), self._timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            raise FeedUnavailable(f"redis stream {self.stream}: {exc}") from exc
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def read_after(self, cursor: str, block_ms: int | None, count: int = 256) -> list[FeedEntry]:
        """Entries after ``cursor`` (blocking up to ``block_ms`` when none is there yet)."""
        # redis-py types XREAD's reply as a union over protocols and decoding; this client (bytes, no
        # decode_responses) gets [(stream, [(entry id, {field: value})])], or None when nothing came.
        reply = cast(
            list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] | None,
            await self._redis.xread({self.stream: cursor}, count=count, block=block_ms),
        )
        entries = []
        for _stream, items in reply or []:
            for entry_id, fields in items:
                entries.append(self._parse(entry_id.decode(), fields))
        return entries

    @staticmethod
    def _parse(entry_id: str, fields: dict[bytes, bytes]) -> FeedEntry:
        kind = fields.get(b"kind", b"").decode()
        origin = fields.get(b"origin", b"").decode()
        payload = fields.get(b"payload", b"")
        if kind == "upsert":
            return FeedEntry(entry_id, origin, decode_records(payload), [])
        if kind == "delete":
            ids = [i for i in payload.decode().split("\n") if i]
            return FeedEntry(entry_id, origin, [], ids)
        raise ValueError(f"stream entry {entry_id}: unknown kind {kind!r}")

    async def replay(self, cursor: str, handler: EntryHandler) -> str:
        """Apply every entry after ``cursor`` without blocking; return the new cursor."""
        self.cursor = cursor
        while True:
            entries = await self.read_after(self.cursor, block_ms=None)
            if not entries:
                return self.cursor
            await self._apply(entries, handler)

    async def _apply(self, entries: list[FeedEntry], handler: EntryHandler) -> None:
        for entry in entries:
            await handler(entry)
            self.cursor = entry.entry_id

    def start_tailing(self, cursor: str, handler: EntryHandler) -> None:
        """Tail the stream in the background from ``cursor``, applying entries in stream order."""
        self._task = asyncio.create_task(self._tail(cursor, handler), name="ranker-item-feed")

    async def _tail(self, cursor: str, handler: EntryHandler) -> None:
        self.cursor = cursor
        backoff = 0.05
        while not self._closing:
            try:
                entries = await self.read_after(self.cursor, block_ms=self.block_ms)
                await self._apply(entries, handler)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("item feed read failed; retrying", extra={"error": str(exc), "backoff_s": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception:
                log.exception("item feed entry could not be applied; skipping it", extra={"cursor": self.cursor})
                entries = await self.read_after(self.cursor, block_ms=None, count=1)
                if entries:
                    self.cursor = entries[0].entry_id

    async def close(self) -> None:
        """Stop tailing (a blocked XREAD is abandoned) and close the connections."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._redis.aclose(), 2.0)
