"""`python -m recmodel.evaluation.cold_start` end to end on the synthetic dataset: every split, system and summary
key is reported, cached runs are reused (from the cache or the committed archive), and switching the data never
reuses a cached run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recmodel.evaluation import cold_start
from recmodel.settings import REPO_ROOT

SUMMARY_KEYS = {
    "cold_users_full_ndcg10",
    "warm_masked_ndcg10",
    "cold_only_hr10",
    "best_knn_cold_only_hr10",
    "cold_exposure_top10",
}


def _config(tmp_path: Path) -> Path:
    cfg = {
        "models": {"full": str(REPO_ROOT / "recmodel/configs/full.yaml")},
        "primary": "full",
        "splits": {
            "time": {"cold_by": "time", "split_seeds": [0], "train_seeds": [0]},
            "random": {"cold_by": "random", "split_seeds": [0, 1]},
        },
        "report_json": str(tmp_path / "out" / "cold-start.json"),
        "report_markdown": str(tmp_path / "out" / "cold-start.md"),
        "run_cache": str(tmp_path / "runs"),
        "run_archive": str(tmp_path / "archive"),
        "workers": 1,
    }
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_cold_start_cli_reports_every_split_and_reuses_only_matching_runs(synthetic_root: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(synthetic_root / "ml100k-mm", data)
    features = synthetic_root / "features"
    config = _config(tmp_path)
    args = ["--config", str(config), "--data", str(data), "--features", str(features), "--epochs", "1"]
    cold_start.main(args)
    report = json.loads((tmp_path / "out" / "cold-start.json").read_text())
    assert set(report["splits"]) == {"time", "random"}
    for block in report["splits"].values():
        assert set(block["summary"]) >= SUMMARY_KEYS
        assert {"random", "popularity", "knn_text", "knn_image", "knn_both", "full"} <= set(block["systems"])
        for summary in block["systems"].values():
            for interval in summary["intervals"].values():
                assert interval["ci_low"] <= interval["mean"] <= interval["ci_high"]
        # popularity puts every cold item (count 0) below every trained one: never in a top 10 of all items
        assert block["systems"]["popularity"]["mean"]["cold_full/hr@10"] == 0.0
    assert report["splits"]["random"]["systems"]["full"]["runs"] == 2
    markdown = (tmp_path / "out" / "cold-start.md").read_text()
    assert (tmp_path / "out" / "cold-start.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Split `time`" in markdown and "| full (primary) |" in markdown
    runs = sorted((tmp_path / "runs").glob("*.json"))
    assert len(runs) == 3 + 3  # baselines per split (time 0, random 0, random 1) and full per run
    stamps = {p: p.stat().st_mtime_ns for p in runs}
    cold_start.main(args)  # everything cached: nothing recomputed
    assert {p: p.stat().st_mtime_ns for p in runs} == stamps
    # a fresh clone: no run cache, the committed archive only; the report is rebuilt the same
    assert len(list((tmp_path / "archive").glob("*.json.gz"))) == len(runs)
    shutil.move(tmp_path / "runs", tmp_path / "runs-aside")
    cold_start.main([*args, "--report-only"])
    rebuilt = json.loads((tmp_path / "out" / "cold-start.json").read_text())["splits"]
    assert json.dumps(rebuilt) == json.dumps(report["splits"])  # NaN-safe, order included
    shutil.rmtree(tmp_path / "runs")
    shutil.move(tmp_path / "runs-aside", tmp_path / "runs")
    # other events in the same folder: every run is recomputed under a new key, none of the old ones is read
    events = pd.read_csv(data / "interactions.csv")
    events.iloc[: len(events) // 2].to_csv(data / "interactions.csv", index=False)
    cold_start.main(args)
    assert len(list((tmp_path / "runs").glob("*.json"))) == 2 * len(runs)
