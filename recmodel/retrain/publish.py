"""Atomic publication: a finished candidate folder is renamed into the artifacts root, then the ``current``
symlink the ranker watches is swapped with one ``os.replace`` of a fresh temporary symlink (the ranker sees the
old target or the new one, never a half-written folder or a missing link)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from kairos.durable import fsync_dir, write_bytes_atomic

STAGING = ".staging"
PUBLISHED_FILE = "published.json"  # in the artifacts root: the last publication (survives report dirs)


def utc_stamp(now: float | None = None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))


def served_target(link: Path) -> Path | None:
    """The folder ``link`` points at (resolved), or None when there is no link or it dangles."""
    if not os.path.lexists(link):
        return None
    target = Path(os.path.realpath(link))
    return target if target.is_dir() else None


@contextlib.contextmanager
def publish_lock(root: Path) -> Iterator[None]:
    """One retraining at a time per artifacts root (a second one fails at once instead of racing)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".retrain.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another retraining holds {root / '.retrain.lock'}") from None
        yield


def staging_dir(root: Path, name: str) -> Path:
    """Where a candidate is trained: inside the artifacts root (same filesystem, so publishing is a rename)."""
    folder = root / STAGING / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def point_link(link: Path, target: Path) -> None:
    """Atomically make ``link`` a symlink to ``target`` (relative when both share a folder)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(target, link.parent)
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(rel, target_is_directory=True)
    os.replace(tmp, link)
    fsync_dir(link.parent)


def publish(candidate: Path, root: Path, link: Path, info: dict) -> Path:
    """Move ``candidate`` to ``root/<its name>`` and point ``link`` at it; record ``info`` in published.json."""
    shutil.rmtree(candidate / "checkpoints", ignore_errors=True)
    final = root / candidate.name
    if final.exists():
        raise FileExistsError(f"{final}: already published")
    os.rename(candidate, final)
    fsync_dir(root)
    point_link(link, final)
    write_json_atomic(root / PUBLISHED_FILE, {**info, "artifact": final.name})
    return final


def refuse(candidate: Path, rejected_dir: Path | None) -> Path | None:
    """Delete ``candidate`` or move it under ``rejected_dir``; the served artifact and link are not touched."""
    if not candidate.exists():
        return None
    if rejected_dir is None:
        shutil.rmtree(candidate, ignore_errors=True)
        return None
    rejected_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(candidate / "checkpoints", ignore_errors=True)
    target = rejected_dir / candidate.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.move(str(candidate), target)
    return target


def prune(root: Path, name: str, keep: int, link: Path) -> list[str]:
    """Delete published ``<name>-*`` folders beyond the newest ``keep`` (never the one ``link`` points at)."""
    served = served_target(link)
    folders = sorted((p for p in root.glob(f"{name}-*") if p.is_dir() and not p.is_symlink()), key=lambda p: p.name)
    removed = []
    for folder in folders[:-keep] if keep else folders:
        if served is not None and folder.resolve() == served:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def last_published(root: Path, link: Path) -> float | None:
    """Unix time of the last publication: published.json, else the served folder's mtime, else None."""
    record = root / PUBLISHED_FILE
    if record.is_file():
        with contextlib.suppress(ValueError, KeyError):
            return float(json.loads(record.read_text())["published_at"])
    served = served_target(link)
    return served.stat().st_mtime if served is not None else None


def write_json_atomic(path: Path, payload: object) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())
