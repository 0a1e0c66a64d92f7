"""Finished evaluation runs: the working cache (full records) and an optional committed archive of compact ones.

A run is named ``<model>-seed<seed>-<key>.json``, the key a hash of its resolved config, seed and data content, so
a record never stands in for another configuration or dataset. The archive keeps what a report needs (per-user
target ranks, metrics, config, timings) and drops the new-item boost's selection table (about 98% of a record), so
a fresh clone can rebuild a report (``--report-only``) and resume an evaluation from the runs committed with it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from kairos.durable import write_bytes_atomic


def compact(run: dict) -> dict:
    """``run`` without the boost's selection table (its chosen beta and setting stay)."""
    boost = {k: v for k, v in (run.get("new_item_boost") or {}).items() if k != "selection"}
    return run | {"new_item_boost": boost}


class RunStore:
    """Runs by file name: read from the cache, else from the archive; every saved run goes to both."""

    def __init__(self, cache: Path, archive: Path | None = None) -> None:
        self.cache, self.archive = cache, archive
        cache.mkdir(parents=True, exist_ok=True)

    def _archived(self, name: str) -> Path | None:
        return None if self.archive is None else self.archive / f"{name}.gz"

    def has(self, name: str) -> bool:
        """True when the run is in the cache or the archive."""
        archived = self._archived(name)
        return (self.cache / name).is_file() or (archived is not None and archived.is_file())

    def load(self, name: str) -> dict | None:
        """The run's record (the cache's full one when there is one), or None."""
        if (self.cache / name).is_file():
            return json.loads((self.cache / name).read_text())
        archived = self._archived(name)
        if archived is not None and archived.is_file():
            return json.loads(gzip.decompress(archived.read_bytes()))
        return None

    def save(self, name: str, run: dict) -> None:
        """Write the full record to the cache and a compact one to the archive (each atomically)."""
        write_bytes_atomic(self.cache / name, json.dumps(run, indent=2).encode())
        archived = self._archived(name)
        if archived is not None:
            body = json.dumps(compact(run), separators=(",", ":")).encode()  # key order kept: reports rely on it
            write_bytes_atomic(archived, gzip.compress(body, mtime=0))
