"""A server process with its output in a log file, and a context manager that runs one until it is healthy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kairos.harness.readiness import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """``python <args>`` (or ``command`` as given, with ``python=False``) with stdout and stderr in ``log_path``.

    ``new_session`` puts it in its own process group, so :meth:`stop` also stops what it spawned (Triton's
    backend stubs).
    """

    def __init__(
        self,
        args: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        python: bool = True,
        new_session: bool = False,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.args = [sys.executable, *args] if python else list(args)
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.new_session = new_session
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        """Launch the process (its log is appended to)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=self.new_session,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(no log)"

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``ready`` until true; RuntimeError (with the log's tail) when the process exits first,
        TimeoutError when ``timeout_s`` passes."""

        def probe() -> bool:
            if not self.alive():
                code = None if self.proc is None else self.proc.returncode
                raise RuntimeError(f"{what} exited with code {code} during start-up:\n{self.log_tail()}")
            return ready()

        wait_until(probe, timeout_s, what, interval_s=0.1)

    def kill9(self) -> None:
        """SIGKILL: no chance to flush or clean up."""
        if self.alive():
            assert self.proc is not None
            self._signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM and wait for exit (SIGKILL after ``timeout_s``); return the exit code."""
        if self.proc is None:
            return None
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode

    stop = terminate

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            if self.new_session:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except ProcessLookupError:
            pass


@contextmanager
def running(
    args: Sequence[str],
    log_path: Path,
    ready: Callable[[], bool],
    timeout_s: float = 120.0,
    what: str = "server",
    env: dict[str, str] | None = None,
    stop_timeout_s: float = 20.0,
) -> Iterator[ServerProcess]:
    """Start ``python <args>``, wait until ``ready``, yield it, and stop it SIGTERM → SIGKILL on the way out."""
    process = ServerProcess(args, log_path, env=env).start()
    try:
        process.wait_ready(ready, timeout_s, what)
        yield process
    finally:
        process.terminate(stop_timeout_s)
