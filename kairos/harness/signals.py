"""Stopping a process the way the services expect: SIGTERM (graceful drain), SIGKILL when it does not exit."""

from __future__ import annotations

import os
import signal
import time


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it first when it is this process's exited child (no zombie)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_pid(pid: int, timeout_s: float, group: bool = False) -> bool:
    """SIGTERM ``pid`` (its process group with ``group``), SIGKILL after ``timeout_s``; True when it had to be
    killed."""
    send = (lambda sig: os.killpg(pid, sig)) if group else (lambda sig: os.kill(pid, sig))
    try:
        send(signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return False
        time.sleep(0.05)
    try:
        send(signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (reaping it when it is an exited child of this process)."""
    return _alive(pid)
