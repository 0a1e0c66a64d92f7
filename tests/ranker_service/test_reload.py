"""Hot reload under load: a new artifact behind the `current` symlink is swapped in with zero failed requests."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import grpc
import pytest

from kairos.v1 import ranker_pb2, ranker_pb2_grpc
from tests.ranker_service.conftest import RankerFactory, copy_artifact
from tests.support.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def point(link: Path, target: Path) -> None:
    """Atomically re-point a symlink (what a deployment does when it publishes a new artifact)."""
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


class Load:
    """Threads sending Recommend back to back, recording every version answered and every failure."""

    def __init__(self, address: str, threads: int = 6) -> None:
        self.versions: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._channel = grpc.insecure_channel(address)
        stub = ranker_pb2_grpc.RankerStub(self._channel)
        self._threads = [threading.Thread(target=self._run, args=(stub, t)) for t in range(threads)]

    def _run(self, stub: ranker_pb2_grpc.RankerStub, t: int) -> None:
        n = 0
        while not self._stop.is_set():
            request = ranker_pb2.RecommendRequest(user_id=f"reload-{t}-{n % 5}", k=10)
            try:
                self.versions.append(stub.Recommend(request, timeout=2.0).model_version)
            except grpc.RpcError as exc:
                self.failures.append(f"{exc.code()}: {exc.details()}")
            n += 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._channel.close()


def test_hot_reload_under_load_fails_no_request(
    tmp_path: Path, artifact: Path, user_state_address: str, start_ranker: RankerFactory
) -> None:
    v1 = copy_artifact(artifact, tmp_path / "artifacts" / "model-v1")
    v2 = copy_artifact(artifact, tmp_path / "artifacts" / "model-v2")
    current = tmp_path / "artifacts" / "current"
    point(current, v1)
    ranker = start_ranker(current, user_state_address, "--artifact-poll-s", "0.2")
    first = ranker.stub.Recommend(ranker_pb2.RecommendRequest(user_id="reload-x", k=3), timeout=5).model_version
    assert first.startswith("model-v1-")

    with Load(ranker.address) as load:
        time.sleep(1.0)
        point(current, v2)  # picked up by polling
        wait_until(lambda: bool(load.versions) and load.versions[-1].startswith("model-v2-"), 30, "the v2 model")
        time.sleep(1.0)
    assert load.failures == []
    switch = next(i for i, v in enumerate(load.versions) if v.startswith("model-v2-"))
    assert switch > 0 and all(v == first for v in load.versions[:switch])
    assert len(load.versions) - switch > 5
    assert 'kairos_ranker_model_reloads_total{result="ok"} 1.0' in ranker.metrics()

    broken = tmp_path / "artifacts" / "model-v3-broken"
    broken.mkdir()
    (broken / "model.pt").write_bytes(b"not a model")
    with Load(ranker.address, threads=2) as load:
        point(current, broken)
        ranker.proc.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: 'kairos_ranker_model_reloads_total{result="failed"}' in ranker.metrics(), 30, "a failure")
        time.sleep(0.5)
    assert load.failures == []
    assert load.versions and all(v.startswith("model-v2-") for v in load.versions)
