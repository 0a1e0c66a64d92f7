"""The compactor: consumes the event-log Redis stream into Parquet segment files (see redis_stream.py).

    python -m user_state.event_log compact --redis-url redis://host:6379/0 --out DIR

It reads with a consumer group, writes segments in the embedded log's layout (so `segments.iter_events(dir)`
reads either), and XACKs entries only once their segment is durable (temporary file, fsync, rename, fsync of
the directory). Every segment keeps the stream id of each row; after a crash the compactor re-reads its pending
entries and skips those at or below the newest id already written: every stream entry lands in the output
exactly once. Deletion entries (`d`, see redis_stream.py) become `delete_user` records in stream order. Run one
compactor per consumer group (it is the only writer of its output directory).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import redis
from redis import exceptions as redis_errors

from user_state.event_log.reader import SEALED_SUFFIX, list_segments
from user_state.event_log.records import DELETE_USER, EVENT, Record, parquet_meta, stem, write_parquet
from user_state.event_log.redis_stream import DELETED_FIELD, FIELD
from user_state.event_log.retention import expired
from user_state.events import Event, from_wire

log = logging.getLogger(__name__)

DEFAULT_GROUP = "kairos-compactor"


def _parse_id(stream_id: bytes | str) -> tuple[int, int]:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Compactor:
    """Consumes the stream with a consumer group and writes durable Parquet segments into `out_dir`."""

    def __init__(
        self,
        redis_url: str,
        out_dir: Path,
        stream: str = "kairos:event-log",
        group: str = DEFAULT_GROUP,
        consumer: str = "compactor",
        segment_max_events: int = 100_000,
        segment_max_age_s: float = 60.0,
        read_count: int = 5_000,
        block_ms: int = 1_000,
        retention_days: float | None = None,
        retention_max_bytes: int | None = None,
    ) -> None:
        """``retention_days`` / ``retention_max_bytes``: after each segment, the oldest segments of ``out_dir`` past
        that age or beyond that total size are deleted (never the newest, which the numbering continues from);
        None keeps them."""
        self.client = redis.Redis.from_url(redis_url, socket_timeout=max(5.0, block_ms / 1000 + 5))
        self.out_dir = Path(out_dir)
        self.stream, self.group, self.consumer = stream, group, consumer
        self.segment_max_events = segment_max_events
        self.segment_max_age_s = segment_max_age_s
        self.read_count = min(read_count, segment_max_events)
        self.block_ms = block_ms
        self.next_lsn = 1
        self.watermark = (0, 0)  # highest stream id already in a durable segment
        self._buffer: list[tuple[bytes, str, Event]] = []  # (stream id, kind, event or deletion row)
        self._buffer_since = 0.0
        self.written = 0
        self.retention_ms = int(retention_days * 86_400_000) if retention_days else None
        self.retention_max_bytes = retention_max_bytes
        self.deleted = 0

    def _resume(self) -> None:
        """Numbering and the stream-id watermark from the newest segment already in `out_dir`."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for tmp in self.out_dir.glob("*.tmp"):
            tmp.unlink()
        sealed = [p for p in list_segments(self.out_dir) if p.suffix == SEALED_SUFFIX]
        if sealed:
            last = sealed[-1]
            self.next_lsn = parquet_meta(last).get("last_lsn", 0) + 1
            ids = pq.read_table(last, columns=["stream_id"]).column("stream_id").to_pylist()
            if ids:
                self.watermark = max(_parse_id(i) for i in ids)
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis_errors.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, start: str, block: int | None) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        reply: Any = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=self.read_count, block=block
        )
        return list(reply[0][1]) if reply else []  # [[stream, [(id, fields), ...]]]

    def _take(self, entries: list[tuple[bytes, dict[bytes, bytes] | None]]) -> None:
        skipped: list[bytes] = []
        for stream_id, fields in entries:
            known = fields is not None and (FIELD in fields or DELETED_FIELD in fields)
            if not fields or not known or _parse_id(stream_id) <= self.watermark:
                skipped.append(stream_id)  # trimmed meanwhile, or already in a segment
                continue
            if not self._buffer:
                self._buffer_since = time.monotonic()
            if FIELD in fields:
                self._buffer.append((stream_id, EVENT, from_wire(fields[FIELD])))
            else:  # a deletion: the user id, at the entry's time
                user_id = fields[DELETED_FIELD].decode()
                self._buffer.append((stream_id, DELETE_USER, Event("", user_id, "", _parse_id(stream_id)[0])))
        if skipped:
            self.client.xack(self.stream, self.group, *skipped)

    def flush(self) -> None:
        """Write the buffered entries as one segment, make it durable, then acknowledge them."""
        if not self._buffer:
            return
        rows = [
            Record(self.next_lsn + i, _parse_id(stream_id)[0], event, kind)
            for i, (stream_id, kind, event) in enumerate(self._buffer)
        ]
        ids = [stream_id.decode() for stream_id, _, _ in self._buffer]
        path = self.out_dir / (stem(self.next_lsn) + SEALED_SUFFIX)
        size = write_parquet(path, rows, extra={"stream_id": pa.array(ids, pa.string())})
        self.watermark = _parse_id(ids[-1])
        self.client.xack(self.stream, self.group, *ids)
        self.next_lsn += len(rows)
        self.written += len(rows)
        log.info("compacted segment written", extra={"segment": path.name, "records": len(rows), "bytes": size})
        self._buffer = []
        self.retain()

    def retain(self) -> None:
        """Delete the output's oldest segments beyond the retention age or size (never the newest)."""
        if self.retention_ms is None and self.retention_max_bytes is None:
            return
        sealed = [(p, p.stat().st_size) for p in list_segments(self.out_dir)]
        now_ms = int(time.time() * 1000)
        for path in expired(sealed, self.retention_ms, self.retention_max_bytes, now_ms, keep_last=True):
            path.unlink(missing_ok=True)
            self.deleted += 1
            log.info("compacted segment deleted by retention", extra={"segment": path.name})

    def run(self, once: bool = False, stop_after_s: float | None = None) -> int:
        """Compact until stopped (`once`: until the stream has nothing new); return events written."""
        self._resume()
        # Entries delivered to this consumer before a crash and never acknowledged come first.
        start = "0"
        while entries := self._read(start, None):
            self._take(entries)
            start = entries[-1][0].decode()
            if len(self._buffer) >= self.segment_max_events:
                self.flush()
        deadline = time.monotonic() + stop_after_s if stop_after_s is not None else None
        while True:
            entries = self._read(">", None if once else self.block_ms)
            self._take(entries)
            full = len(self._buffer) >= self.segment_max_events
            old = self._buffer and time.monotonic() - self._buffer_since >= self.segment_max_age_s
            if full or old or (not entries and once):
                self.flush()
            if once and not entries:
                return self.written
            if deadline is not None and time.monotonic() >= deadline:
                self.flush()
                return self.written

    def close(self) -> None:
        self.client.close()
