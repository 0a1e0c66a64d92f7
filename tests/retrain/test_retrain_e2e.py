"""End to end with real processes: events appended over gRPC (a retried batch included, and user-state killed
with SIGKILL mid-stream, restarted and the unacknowledged batch sent again) -> the event log ->
``python -m recmodel.retrain`` -> the running ranker,
started on the ``current`` symlink, serves the new model without a failed Recommend; then a candidate trained on
corrupted events is refused with margin 0 and the served version stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest
import yaml

from kairos.v1 import events_pb2, ranker_pb2, ranker_pb2_grpc, user_state_pb2, user_state_pb2_grpc
from recmodel.model.catalogue import Catalogue
from tests.ranker_service.conftest import copy_artifact, launch_ranker
from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT, ServerProcess, grpc_serving, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DATA = Path(os.environ.get("KAIROS_RANKER_DATA_DIR", REPO_ROOT.parent / "shared" / "data" / "ml100k-mm"))
USERS = 40
TINY = REPO_ROOT / "tests" / "ranker_service" / "tiny_model.yaml"


class Load:
    """A background loop of Recommend calls recording every model_version answered and every failure."""

    def __init__(self, address: str, users: list[str]) -> None:
        self.versions: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._channel = grpc.insecure_channel(address)
        self._stub = ranker_pb2_grpc.RankerStub(self._channel)
        self._users = users
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            request = ranker_pb2.RecommendRequest(user_id=self._users[n % len(self._users)], k=10)
            try:
                self.versions.append(self._stub.Recommend(request, timeout=5.0).model_version)
            except grpc.RpcError as exc:
                self.failures.append(f"{exc.code()}: {exc.details()}")
            n += 1
            time.sleep(0.02)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._channel.close()


def _user_state(workdir: Path, port: int | None = None) -> tuple[ServerProcess, str, Path]:
    port = port or free_port()
    data = workdir / "user-state"
    args = ["-m", "user_state", "serve", "--store", "embedded", "--port", str(port), "--metrics-port", "0"]
    args += ["--data-dir", str(data), "--max-events-per-user", "5000"]
    proc = ServerProcess(args, workdir / "user-state.log").start()
    address = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(address) or not proc.alive(), 60, "user-state server")
    assert proc.alive(), proc.log_text()[-3000:]
    return proc, address, data


def _append(
    address: str, frame: pd.DataFrame, crash: Callable[[], None] | None = None, crash_at: int = 3
) -> tuple[int, int, bool]:
    """Append every event in batches of 500, sending the second batch twice (a client retry); with ``crash``, batch
    ``crash_at`` is in flight when ``crash`` kills and restarts the server, and is sent again until acknowledged.
    Returns (appended, duplicates, whether the in-flight batch failed)."""
    appended = duplicates = 0
    failed = False
    batches = [frame.iloc[i : i + 500] for i in range(0, len(frame), 500)]
    for number, batch in enumerate(batches):
        events = [
            events_pb2.Event(event_id=f"e{row.Index}", user_id=row.user_id, item_id=row.item_id, timestamp_ms=ts)
            for row, ts in zip(batch.itertuples(), batch.timestamp_ms, strict=True)
        ]
        request = user_state_pb2.AppendEventsRequest(events=events)
        sends = 2 if number == 1 else 1
        while sends:
            with grpc.insecure_channel(address) as channel:
                stub = user_state_pb2_grpc.UserStateStub(channel)
                future = stub.AppendEvents.future(request, timeout=30)
                if crash is not None and number == crash_at and not failed:
                    crash()
                try:
                    reply = future.result()
                except grpc.RpcError:  # killed before it answered: not acknowledged, so the client sends it again
                    failed = True
                    continue
            appended += reply.appended
            duplicates += reply.duplicates
            sends -= 1
    return appended, duplicates, failed


def _export(address: str, users: list[str], path: Path) -> int:
    """The users' sequences from GetSequences as a contract events file (ms); the number of events."""
    rows = []
    with grpc.insecure_channel(address) as channel:
        stub = user_state_pb2_grpc.UserStateStub(channel)
        reply = stub.GetSequences(user_state_pb2.GetSequencesRequest(user_ids=users), timeout=30)
        for user, sequence in zip(users, reply.sequences, strict=True):
            rows += [(user, e.item_id, e.timestamp_ms) for e in sequence.events]
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(path, index=False)
    return len(rows)


def _retrain(config: Path, *sets: str) -> dict:
    command = [sys.executable, "-m", "recmodel.retrain", "--config", str(config)]
    for item in sets:
        command += ["--set", item]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    report_dir = yaml.safe_load(config.read_text())["report"]["dir"]
    return json.loads((Path(report_dir) / "latest.json").read_text())


def _version(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        stub = ranker_pb2_grpc.RankerStub(channel)
        return stub.Recommend(ranker_pb2.RecommendRequest(user_id="probe", k=3), timeout=10).model_version


def test_retrain_publishes_to_a_running_ranker_and_refuses_a_worse_candidate(tmp_path: Path, artifact: Path) -> None:
    interactions = pd.read_csv(DATA / "interactions.csv", dtype=str)
    users = list(dict.fromkeys(interactions.user_id))[:USERS]
    frame = interactions[interactions.user_id.isin(users)].reset_index(drop=True)
    frame = frame.assign(timestamp_ms=frame.timestamp.astype(np.int64) * 1000)

    root = tmp_path / "artifacts"
    first = copy_artifact(artifact, root / "tiny-v0")
    (root / "current").symlink_to(first.name)
    us_proc, us_address, us_data = _user_state(tmp_path)
    ranker = None
    port = int(us_address.rsplit(":", 1)[1])

    def crash() -> None:
        nonlocal us_proc
        us_proc.kill9()  # mid-stream: the batch in flight may or may not have been committed
        us_proc, _, _ = _user_state(tmp_path, port)

    try:
        appended, duplicates, failed = _append(us_address, frame, crash)
        # every event stored once: the retried batch comes back as 500 duplicates, and so does the batch resent after
        # the crash when the killed server had committed it (then its events were appended by the lost reply)
        assert duplicates in ((500, 1000) if failed else (500,))
        assert appended + (duplicates - 500) == len(frame)

        ranker = launch_ranker(tmp_path, root / "current", us_address, "--artifact-poll-s", "0.2")
        served_v0 = _version(ranker.address)
        assert served_v0.startswith("tiny-v0-")

        event_log = us_data / "event-log"
        assert event_log.is_dir() and any(event_log.iterdir()), "user-state keeps an event log by default"
        events = {"event_log": str(event_log)}
        assert _export(us_address, users, tmp_path / "events.csv") == len(frame)  # the store agrees
        config = tmp_path / "retrain.yaml"
        settings = {
            "events": events,
            "items": {"stores": [str(tmp_path / "ranker")]},  # the running ranker's data dir (items.sqlite)
            "window": {"days": None},
            "holdout": {"fraction": 0.1, "min_cases": 20},
            "experiment": {"config": str(TINY), "epochs": 1},
            # the first served model was trained on the slice's events too: only a collapse is refused here
            "publish": {"artifacts_root": str(root), "name": "tiny", "margin": 0.9},
            "report": {"dir": str(tmp_path / "reports"), "prom_file": str(tmp_path / "retrain.prom")},
            "work_dir": str(tmp_path / "work"),
        }
        config.write_text(yaml.safe_dump(settings))

        with Load(ranker.address, users) as load:
            report = _retrain(config)
            assert report["decision"] == "published", report["reason"]
            published = Path(report["candidate"]["artifact"])
            assert os.readlink(root / "current") == published.name
            new_version = report["candidate"]["version"]
            wait_until(lambda: bool(load.versions) and load.versions[-1] == new_version, 30, "the retrained model")
            time.sleep(0.5)
        assert load.failures == []
        assert load.versions[0] == served_v0 and load.versions[-1] == new_version
        assert report["window"]["events"] == len(frame) and report["window"]["cases"] >= 20
        assert report["metrics"]["served"]["version"] == served_v0
        assert Catalogue.load(published / "catalogue.npz").item_ids == Catalogue.load(first / "catalogue.npz").item_ids
        prom = (tmp_path / "retrain.prom").read_text()
        assert 'kairos_retrain_last_outcome{decision="published"} 1.0' in prom

        with Load(ranker.address, users) as load:
            refused = _retrain(config, "experiment.corrupt=random_items", "publish.margin=0")
            time.sleep(1.0)  # a few polls of the artifact path
        assert refused["decision"] == "refused", refused["reason"]
        assert refused["metrics"]["served"]["version"] == new_version
        assert os.readlink(root / "current") == published.name
        assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == sorted(
            ["current", "published.json", "tiny-v0", published.name]
        )
        assert load.failures == [] and set(load.versions) == {new_version}
        assert _version(ranker.address) == new_version
        prom = (tmp_path / "retrain.prom").read_text()
        assert 'kairos_retrain_last_outcome{decision="refused"} 1.0' in prom
        line = next(x for x in prom.splitlines() if x.startswith("kairos_retrain_last_published_timestamp_seconds "))
        assert float(line.split()[1]) == pytest.approx(report["published_at"])
    finally:
        if ranker is not None:
            ranker.stop()
        us_proc.terminate()
