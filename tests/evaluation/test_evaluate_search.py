"""The evaluation harness: validation-only search, rows built on another row's choice, per-model max_len and the
time-shuffled data variant, all on the same test users; a report rebuilt from the committed run archive alone."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from recmodel import evaluate as evaluate_cli
from tests.model.conftest import TINY


def test_search_chooses_on_validation_and_ablations_start_from_the_choice(
    synthetic_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tiny = {
        **TINY,
        "name": "full",
        "model": {**TINY["model"], "repeat_bias": True},
        "train": {**TINY["train"], "epochs": 1},
    }
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(tiny))
    (tmp_path / "shuffled.yaml").write_text(yaml.safe_dump({"extends": "full.yaml", "data": {"time_shuffle": True}}))
    (tmp_path / "blind.yaml").write_text(yaml.safe_dump({"extends": "full.yaml", "model": {"time_intervals": False}}))
    sasrec = {"modalities": ["id"], "temporal_moe": False, "request_gap": False, "repeat_bias": False}
    eval_cfg = {
        "seeds": [0, 1],
        "models": {
            "full": {"config": "full.yaml", "search": [{}, {"train": {"lr": 0.02}}]},
            "sasrec": {
                "config": "full.yaml",
                "overrides": {"model": sasrec},
                "search": [{"data": {"max_len": 20}}, {"data": {"max_len": 20}, "model": {"dim": 32}}],
            },
            "shuffled": {"base": "full", "config": "shuffled.yaml", "priority": 1, "seeds": [0]},
            "blind": {"base": "full", "config": "blind.yaml", "priority": 1},
            "patchy": {"base": "full", "overrides": {"data": {"image_fraction": 0.4}}, "priority": 2, "seeds": [0]},
        },
        "report_json": str(tmp_path / "r.json"),
        "report_markdown": str(tmp_path / "r.md"),
        "run_cache": str(tmp_path / "runs"),
        "run_archive": str(tmp_path / "archive"),
    }
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(eval_cfg))
    args = ["--config", str(tmp_path / "eval.yaml"), "--data", str(synthetic_root / "ml100k-mm")]
    args += ["--features", str(synthetic_root / "features")]
    with caplog.at_level(logging.INFO, logger="recmodel.evaluate"):
        evaluate_cli.main(args)
    report = json.loads((tmp_path / "r.json").read_text())
    logged = caplog.text  # the plan up front (empty cache: the configured minutes per run), progress per run
    assert "plan: 10 training runs, about 10 min each (expected_run_minutes" in logged
    assert "progress: 1 of 10 runs done (0 cached)" in logged and "progress: 10 of 10 runs done" in logged
    runs = {p.name: json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")}
    # 2 + 2 candidates on seed 0, then the chosen ones on seed 1 (seed 0 reused), 1 + 2 + 1 ablation runs
    assert len(runs) == 4 + 2 + 4
    for model in ("full", "sasrec"):
        rows = report["search"][model]
        best = max(rows, key=lambda r: r["valid_masked_ndcg@10"])
        assert [r["chosen"] for r in rows] == [r is best for r in rows]
        assert report["seeds"][model] == [0, 1]
        chosen = runs[best["path"]]["config"]
        assert all(
            r["config"] == {**chosen, "train": {**chosen["train"], "seed": r["seed"]}}
            for r in runs.values()
            if r["model"] == model and r["seed"] == 1
        )
    full_cfg = runs[next(r["path"] for r in report["search"]["full"] if r["chosen"])]["config"]
    blind = next(r for r in runs.values() if r["model"] == "blind" and r["seed"] == 0)
    assert blind["config"]["model"]["time_intervals"] is False
    assert blind["config"]["train"]["lr"] == full_cfg["train"]["lr"]
    shuffled = next(r for r in runs.values() if r["model"] == "shuffled")
    assert shuffled["config"]["data"]["time_shuffle"] is True
    # one set of warm test users for every row (so every comparison is paired), histories cut per model
    users = {tuple(r["ranks"]["warm_users"]) for r in runs.values()}
    assert len(users) == 1
    assert {r["config"]["data"]["max_len"] for r in runs.values() if r["model"] == "sasrec"} == {20}
    assert report["headline"]["seeds"] == [0, 1] and "full vs shuffled/warm_masked/ndcg@10" in report["paired"]
    assert report["paired"]["full vs shuffled/warm_masked/ndcg@10"]["seeds"] == [0]
    patchy = next(r for r in runs.values() if r["model"] == "patchy")
    assert patchy["config"]["data"]["image_fraction"] == 0.4
    assert patchy["config"]["train"]["lr"] == full_cfg["train"]["lr"]
    summary = report["summary"]
    head = report["headline"]
    assert summary["full_masked_ndcg10"] == head["a_mean"] and summary["tuned_sasrec_masked_ndcg10"] == head["b_mean"]
    assert (summary["ratio"], summary["p_value"], summary["seeds"]) == (head["ratio"], head["p_value"], [0, 1])
    blind_diff = report["paired"]["full vs blind/warm_masked/ndcg@10"]
    assert summary["ablation_blind_delta"] == -blind_diff["delta"]  # row minus full
    assert summary["ablation_blind_ci_low"] == -blind_diff["ci_high"] <= summary["ablation_blind_ci_high"]
    assert summary["ablation_patchy_seeds"] == [0] and "ablation_sasrec_delta" not in summary
    drop = summary["no_images_drop"]["patchy"]
    assert drop == pytest.approx(1 - patchy["test"]["no_images"]["ndcg@10"] / patchy["test"]["warm"]["ndcg@10"])
    text = (tmp_path / "r.md").read_text()
    assert "## Headline" in text and "## Configuration search" in text and "content_knn_both" in text
    assert (tmp_path / "r.png").exists()
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="recmodel.evaluate"):
        evaluate_cli.main(args)  # everything cached: nothing retrained, the same report
    assert "plan: 10 training runs" in caplog.text and "(median of 10 cached runs)" in caplog.text
    assert "progress:" not in caplog.text
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")} == stamps
    assert json.loads((tmp_path / "r.json").read_text())["paired"] == report["paired"]
    # a fresh clone: no run cache, only the committed archive of compact runs; the report comes back the same
    assert len(list((tmp_path / "archive").glob("*.json.gz"))) == 10
    for path in (tmp_path / "runs").glob("*.json"):
        path.unlink()
    evaluate_cli.main([*args, "--report-only"])
    rebuilt = json.loads((tmp_path / "r.json").read_text())
    assert rebuilt["paired"] == report["paired"] and rebuilt["summary"] == report["summary"]
    assert rebuilt["new_item_boost_beta"] == report["new_item_boost_beta"]
