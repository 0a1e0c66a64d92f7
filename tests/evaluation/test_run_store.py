"""Runs are found in the cache or the committed archive; the archive's records are compact and complete enough."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from recmodel.evaluation.run_store import RunStore, compact


def _run() -> dict:
    return {
        "model": "full",
        "seed": 0,
        "ranks": {"warm_users": [1, 2], "warm": [0, 30], "warm_masked": [0, 12]},
        "test": {"warm_masked": {"ndcg@10": 0.5}},
        "new_item_boost": {"beta": -1.5, "selection": [{"beta": b} for b in range(500)]},
    }


def test_a_saved_run_is_read_back_from_the_cache_else_from_the_archive(tmp_path: Path) -> None:
    cache, archive = tmp_path / "cache", tmp_path / "archive"
    store = RunStore(cache, archive)
    name = "full-seed0-abc.json"
    assert not store.has(name) and store.load(name) is None
    store.save(name, _run())
    assert store.load(name) == _run()  # the cache's full record
    (cache / name).unlink()
    fresh = RunStore(cache, archive)  # a fresh clone: no cache, the committed archive
    assert fresh.has(name)
    assert fresh.load(name) == compact(_run())
    assert fresh.load(name)["new_item_boost"] == {"beta": -1.5}
    assert fresh.load(name)["ranks"] == _run()["ranks"]
    assert sorted(p.name for p in archive.iterdir()) == ["full-seed0-abc.json.gz"]


def test_the_archive_is_small_deterministic_and_optional(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "cache", tmp_path / "archive")
    store.save("r.json", _run())
    first = (tmp_path / "archive" / "r.json.gz").read_bytes()
    store.save("r.json", _run())
    assert (tmp_path / "archive" / "r.json.gz").read_bytes() == first  # same bytes: no churn in git
    assert len(first) < len(json.dumps(_run())) / 5
    assert json.loads(gzip.decompress(first))["model"] == "full"
    no_archive = RunStore(tmp_path / "only-cache")
    no_archive.save("r.json", _run())
    assert no_archive.load("r.json") == _run() and not (tmp_path / "only-cache" / "r.json.gz").exists()
