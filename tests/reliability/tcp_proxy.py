"""A real TCP proxy that delays the replies of a plaintext gRPC (HTTP/2) server and watches the caller's frames.

Put between the ranker and user-state, it makes user-state slow without touching it, and records which HTTP/2
streams the caller opened (HEADERS) and cancelled (RST_STREAM): proof that a downstream call was cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, RST_STREAM = 0x1, 0x3


@dataclass
class StreamLog:
    """Stream ids the client opened and reset, with the monotonic time of each."""

    opened: dict[int, float] = field(default_factory=dict)
    reset: dict[int, float] = field(default_factory=dict)


class _FrameWatcher:
    """Incremental parser of client→server HTTP/2 frames (headers only; payloads are skipped)."""

    def __init__(self, log: StreamLog) -> None:
        self.log = log
        self.buffer = b""
        self.preface_seen = False

    def feed(self, data: bytes) -> None:
        self.buffer += data
        if not self.preface_seen:
            if len(self.buffer) < len(PREFACE):
                return
            self.buffer = self.buffer[len(PREFACE) :]
            self.preface_seen = True
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                return
            kind = self.buffer[3]
            stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
            now = time.monotonic()
            if kind == HEADERS and stream not in self.log.opened:
                self.log.opened[stream] = now
            elif kind == RST_STREAM:
                self.log.reset[stream] = now
            self.buffer = self.buffer[9 + length :]


class DelayingProxy:
    """127.0.0.1:<port> → `upstream`; server→client bytes are held back `delay_s` (changeable at any time)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = 0.0
        self.streams = StreamLog()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delaying-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> DelayingProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        watcher = _FrameWatcher(self.streams)
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer, watcher=watcher),
            self._delayed_pipe(upstream_reader, client_writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watcher: _FrameWatcher) -> None:
        with contextlib.closing(writer):
            while data := await reader.read(65536):
                watcher.feed(data)
                writer.write(data)
                await writer.drain()

    async def _delayed_pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward in order, each chunk no earlier than `delay_s` after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        forwarder = asyncio.create_task(forward())
        with contextlib.closing(writer):
            while True:
                data = await reader.read(65536)
                await queue.put((time.monotonic() + self.delay_s, data))
                if not data:
                    break
            await forwarder
