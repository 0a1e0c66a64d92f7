"""Retraining without training: catalogue assembly (no encoder call), the time cut and its cases, the gate,
atomic publication, the report and the Prometheus outcome."""

from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranker.catalog.records import ItemRecord
from ranker.catalog.sqlite_store import SqliteItemStore
from recmodel.data.loaders import load_dataset
from recmodel.data.source import dataset_from_path
from recmodel.features import dataset_item_features
from recmodel.model.catalogue import Catalogue
from recmodel.retrain import publish as pub
from recmodel.retrain.catalogue import save_as_features, training_catalogue
from recmodel.retrain.events import EventTable, cut_events, slice_cases
from recmodel.retrain.gate import SliceScore, decide
from recmodel.retrain.report import export_metrics
from recmodel.retrain.run import run, write_dataset
from recmodel.retrain.settings import HoldoutSettings, RetrainSettings, WindowSettings, load_settings

TEXT, IMAGE = 384, 1280
DAY = 86_400_000


def _catalogue(ids: list[str], seed: int = 0) -> Catalogue:
    rng = np.random.default_rng(seed)
    n = len(ids)
    return Catalogue(
        ids,
        rng.normal(size=(n, TEXT)).astype(np.float32),
        rng.normal(size=(n, IMAGE)).astype(np.float32),
        np.ones(n, dtype=bool),
        np.ones(n, dtype=bool),
    )


def _artifact(folder: Path, ids: list[str]) -> Path:
    folder.mkdir(parents=True)
    _catalogue(ids).save(folder / "catalogue.npz")
    return folder


@pytest.fixture
def no_encoders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any item encoding fails the test."""
    import encoders.extract

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("an item was encoded")

    monkeypatch.setattr(encoders.extract, "extract_item_features", boom)


def test_training_catalogue_is_the_artifact_overlaid_with_the_item_store(tmp_path: Path, no_encoders: None) -> None:
    art = _artifact(tmp_path / "served", ["a", "b", "c", "d"])
    base = Catalogue.load(art / "catalogue.npz")
    store = SqliteItemStore(tmp_path / "ranker" / "items.sqlite")
    text_b = np.full(TEXT, 0.5, np.float32)
    image_new = np.full(IMAGE, 2.0, np.float32)
    store.upsert([ItemRecord("b", text_b, None, updated_ms=5)])  # replaced, text only
    store.upsert([ItemRecord("new", None, image_new, updated_ms=3)])  # no events yet
    store.upsert([ItemRecord("gone", text_b, None, updated_ms=4)])
    store.delete(["c", "gone"])  # an artifact item and a store item
    store.close()

    assembled = training_catalogue(art, [tmp_path / "ranker"])  # a data dir holding items.sqlite
    cat = assembled.catalogue
    assert cat.item_ids == ["a", "b", "d", "new"]
    assert assembled.summary() == {"items": 4, "from_artifact": 2, "upserted": 2, "new": 1, "deleted": 1}
    np.testing.assert_array_equal(cat.text[0], base.text[0])  # raw vectors as stored
    np.testing.assert_array_equal(cat.text[1], text_b)
    assert (cat.has_text[1], cat.has_image[1]) == (True, False) and not cat.image[1].any()
    np.testing.assert_array_equal(cat.image[3], image_new)
    assert (cat.has_text[3], cat.has_image[3]) == (False, True)

    # training reads it as a hand-saved feature set: no extraction, every item (with or without events) known
    events = EventTable.from_frame(
        pd.DataFrame({"user_id": ["u"] * 3, "item_id": ["a", "b", "d"], "timestamp": [1, 2, 3]})
    )
    data = write_dataset(tmp_path / "data", events, cat.item_ids)
    save_as_features(cat, tmp_path / "features" / "retrain")
    dataset = load_dataset(dataset_from_path(data, None))
    features = dataset_item_features(dataset, tmp_path / "features")
    assert dataset.items.item_ids == cat.item_ids
    np.testing.assert_array_equal(features.catalogue.aligned_to(cat.item_ids).image, cat.image)


def test_store_vectors_of_another_encoder_fail_loudly(tmp_path: Path) -> None:
    art = _artifact(tmp_path / "served", ["a"])
    store = SqliteItemStore(tmp_path / "items.sqlite")
    store.upsert([ItemRecord("x", np.ones(8, np.float32), None)])
    store.close()
    with pytest.raises(ValueError, match="expected \\(384,\\)"):
        training_catalogue(art, [tmp_path / "items.sqlite"])


def _events(rows: list[tuple[str, str, int]]) -> EventTable:
    return EventTable.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))


def test_cut_holds_out_the_newest_events_and_cases_see_everything_before(tmp_path: Path) -> None:
    rows = [(f"u{u}", f"i{(u + t) % 5}", t * DAY + u) for u in range(4) for t in range(10)]
    rows += [("u0", "unknown", 5 * DAY), ("u9", "i1", 9 * DAY + 50)]  # unknown item; a user seen only in the slice
    items = [f"i{k}" for k in range(5)]
    cut = cut_events(_events(rows), set(items), WindowSettings(days=None), HoldoutSettings(fraction=0.1))
    assert cut.dropped_unknown == 1 and len(cut.window) == 41
    assert cut.cut_ms == 9 * DAY and len(cut.slice) == 5 and len(cut.train) == 36
    assert (cut.train.timestamps_ms < cut.cut_ms).all() and (cut.slice.timestamps_ms >= cut.cut_ms).all()

    cases = slice_cases(cut, items, max_cases=100)
    assert len(cases) == 4  # u9 has no history
    assert list(cases.target_times) == sorted(cases.target_times)
    for user, history, times in zip(cases.users, cases.histories, cases.history_times, strict=True):
        u = int(user[1:])
        assert len(history) == 9 and (times < 9 * DAY).all()
        assert [items[h] for h in history] == [f"i{(u + t) % 5}" for t in range(9)]
    assert len(slice_cases(cut, items, max_cases=2)) == 2

    days = cut_events(_events(rows), set(items), WindowSettings(days=3), HoldoutSettings(days=1))
    assert days.end_ms == 9 * DAY + 50 and days.start_ms == 6 * DAY + 50 and days.cut_ms == 8 * DAY + 50
    assert days.dropped_old == len(rows) - 1 - len(days.window)
    assert (days.window.timestamps_ms >= days.start_ms).all()


def _score(values: list[float]) -> SliceScore:
    arr = np.array(values, dtype=np.float64)
    return SliceScore("v", arr, (arr > 0).astype(np.float64))


def test_gate_publishes_within_the_margin_only() -> None:
    served = _score([0.5] * 100)
    assert decide(_score([0.5] * 100), None, "ndcg@10", 0.0, 10)[0].publish  # nothing served yet
    ok, paired = decide(_score([0.49] * 100), served, "ndcg@10", 0.05, 10)
    assert ok.publish and ok.relative_delta == pytest.approx(-0.02) and paired["delta"] == pytest.approx(-0.01)
    worse = decide(_score([0.49] * 100), served, "ndcg@10", 0.0, 10)[0]
    assert not worse.publish and "< served 0.5000" in worse.reason
    few = decide(_score([0.9] * 5), _score([0.5] * 5), "ndcg@10", 0.0, 10)[0]
    assert not few.publish and "no evidence" in few.reason


def test_publish_swaps_the_link_atomically_and_refusal_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    old = root / "m-1"
    old.mkdir(parents=True)
    link = root / "current"
    pub.point_link(link, old)
    assert os.readlink(link) == "m-1"  # relative: the volume may be mounted anywhere

    candidate = pub.staging_dir(root, "m-2")
    candidate.mkdir()
    (candidate / "model.pt").write_text("w")
    (candidate / "checkpoints").mkdir()
    final = pub.publish(candidate, root, link, {"published_at": 123.0})
    assert final == root / "m-2" and os.readlink(link) == "m-2" and not candidate.exists()
    assert not (final / "checkpoints").exists()
    assert json.loads((root / "published.json").read_text())["artifact"] == "m-2"
    assert pub.last_published(root, link) == 123.0
    assert not list(root.glob(".current*.tmp"))

    refused = pub.staging_dir(root, "m-3")
    refused.mkdir()
    before = sorted(p.name for p in root.iterdir())
    assert pub.refuse(refused, None) is None and not refused.exists()
    assert os.readlink(link) == "m-2" and sorted(p.name for p in root.iterdir()) == before
    kept = pub.staging_dir(root, "m-4")
    kept.mkdir()
    assert pub.refuse(kept, tmp_path / "rejected") == tmp_path / "rejected" / "m-4"

    for name in ("m-0", "m-5"):
        (root / name).mkdir()
    pub.point_link(link, root / "m-1")  # an operator rolled back to an old one: it is never pruned
    assert pub.prune(root, "m", 2, link) == ["m-0"]  # the newest two and the served one stay
    assert sorted(p.name for p in root.glob("m-*")) == ["m-1", "m-2", "m-5"]

    with pub.publish_lock(root), pytest.raises(RuntimeError, match="another retraining"), pub.publish_lock(root):
        pass


class _Gateway(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(("PUT", self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_prometheus_outcome_textfile_and_pushgateway(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    report = {
        "finished_at": 1000.0,
        "decision": "refused",
        "durations_s": {"train": 12.5, "total": 20.0},
        "metrics": {
            "candidate": {"ndcg@10": {"mean": 0.1}, "hr@10": {"mean": 0.2}},
            "served": {"ndcg@10": {"mean": 0.2}, "hr@10": {"mean": 0.3}},
        },
        "relative_delta": -0.5,
        "window": {"cases": 7, "train_events": 70},
    }
    prom = tmp_path / "textfile" / "kairos_retrain.prom"
    try:
        export_metrics(report, 900.0, prom, f"127.0.0.1:{server.server_port}", "kairos-retrain", 3600.0)
    finally:
        server.shutdown()
    text = prom.read_text()
    for line in (
        "kairos_retrain_last_run_timestamp_seconds 1000.0",
        'kairos_retrain_last_outcome{decision="refused"} 1.0',
        'kairos_retrain_last_outcome{decision="published"} 0.0',
        'kairos_retrain_last_outcome{decision="failed"} 0.0',
        "kairos_retrain_last_published_timestamp_seconds 900.0",
        'kairos_retrain_slice_metric{metric="ndcg@10",model="served"} 0.2',
        "kairos_retrain_relative_delta -0.5",
        'kairos_retrain_last_run_duration_seconds{phase="train"} 12.5',
        "kairos_retrain_eval_cases 7.0",
        "kairos_retrain_publish_max_age_seconds 3600.0",
    ):
        assert line in text, line
    assert [p.name for p in prom.parent.iterdir()] == ["kairos_retrain.prom"]  # no temporary file left
    (_, path, body), *_ = _Gateway.received
    assert path == "/metrics/job/kairos-retrain" and b'kairos_retrain_last_outcome{decision="refused"} 1.0' in body


def test_a_failed_run_reports_failure_and_leaves_the_served_model(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    served = _artifact(root / "m-1", ["a", "b"])
    pub.point_link(root / "current", served)
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\nu,zzz,1\n")  # no event on a known item
    settings = RetrainSettings.model_validate(
        {
            "events": {"file": str(tmp_path / "events.csv")},
            "publish": {"artifacts_root": str(root)},
            "report": {"dir": str(tmp_path / "reports"), "prom_file": str(tmp_path / "r.prom")},
            "work_dir": str(tmp_path / "work"),
        }
    )
    with pytest.raises(ValueError, match="no events on catalogue items"):
        run(settings)
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    assert report["decision"] == "failed" and "no events" in report["reason"]
    assert report["catalogue"]["items"] == 2
    assert 'kairos_retrain_last_outcome{decision="failed"} 1.0' in (tmp_path / "r.prom").read_text()
    assert os.readlink(root / "current") == "m-1"
    assert sorted(p.name for p in root.iterdir()) == [".retrain.lock", "current", "m-1"]


def test_settings_resolve_paths_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("events: {event_log: var/log}\npublish: {margin: 0.1}\n")
    settings = load_settings(path, {"publish.margin": 0.0, "experiment.epochs": 2})
    assert settings.publish.margin == 0.0 and settings.experiment.epochs == 2
    assert settings.events.event_log.is_absolute() and settings.publish.link.name == "current"
    path.write_text("events: {event_log: a, file: b}\n")
    with pytest.raises(ValueError, match="exactly one"):
        load_settings(path)
    load_settings(Path(__file__).parents[2] / "recmodel" / "configs" / "retrain.yaml")


def test_the_ranker_redis_item_stream_is_replayed_over_the_artifact(tmp_path: Path, no_encoders: None) -> None:
    import asyncio

    from ranker.catalog.redis_feed import RedisItemFeed
    from tests.support.redis_server import RedisServer, redis_available

    if not redis_available():
        pytest.skip("redis-server is not installed")
    art = _artifact(tmp_path / "served", ["a", "b"])
    vector = np.full(TEXT, 0.25, np.float32)

    async def publish(url: str) -> None:
        feed = RedisItemFeed(url, "kairos:ranker:items", replica_id="r1")
        await feed.publish_upsert([ItemRecord("new", vector, None, updated_ms=9)])
        await feed.publish_upsert([ItemRecord("x", vector, None, updated_ms=1)])
        await feed.publish_delete(["a", "x"])
        await feed.close()

    with RedisServer(tmp_path / "redis") as redis:
        asyncio.run(publish(redis.url))
        assembled = training_catalogue(art, [], (redis.url, "kairos:ranker:items"))
    assert assembled.catalogue.item_ids == ["b", "new"]
    np.testing.assert_array_equal(assembled.catalogue.text[1], vector)
    assert assembled.summary()["new"] == 1 and assembled.summary()["deleted"] == 1
