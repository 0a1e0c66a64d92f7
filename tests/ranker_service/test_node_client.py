"""An outside, non-Python client (grpc-js from npm, loading protos/ directly) calls the new Ranker fields: item
attributes and publication time on UpsertItems, ItemFilter on Recommend and SimilarItems, and a bad filter's
INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from recmodel.model.serving import ServingModel
from tests.ranker_service.conftest import RankerProcess, launch_ranker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JS = Path(__file__).resolve().parents[2] / "bench" / "js"


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm not installed")
    if not (JS / "node_modules" / "@grpc" / "grpc-js").is_dir():
        subprocess.run([npm, "ci", "--prefix", str(JS), "--no-audit", "--no-fund"], check=True, timeout=300)
    return node


@pytest.fixture(scope="module")
def ranker(
    tmp_path_factory: pytest.TempPathFactory, artifact: Path, user_state_address: str
) -> Iterator[RankerProcess]:
    process = launch_ranker(tmp_path_factory.mktemp("node-client"), artifact, user_state_address)
    yield process
    process.stop()


def test_grpc_js_calls_filters_and_attributes(node: str, ranker: RankerProcess, artifact: Path) -> None:
    query = ServingModel.load(artifact).catalogue().item_ids[3]
    done = subprocess.run(
        [node, str(JS / "call_ranker.js"), "--address", ranker.address, "--tag", "js", "--query-item", query],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["upsert"]["upserted"] == 2
    assert {i["item_id"] for i in out["recommend"]["items"]} == {"js-eu", "js-us"}
    assert "DEGRADATION_POPULARITY_FALLBACK" in out["recommend"]["degradations"]
    assert [i["item_id"] for i in out["recommendEu"]["items"]] == ["js-eu"]
    assert [i["item_id"] for i in out["similarNewer"]["items"]] == ["js-us"]
    assert out["badFilter"]["code"] == 3  # INVALID_ARGUMENT
    assert out["badFilter"]["details"].startswith("filter.include[0].key:")
