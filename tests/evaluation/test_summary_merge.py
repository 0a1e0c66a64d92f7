"""Ablations from a related evaluation join a report's summary under their own tag, against their own reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from recmodel.evaluation.plan import EvalConfig
from recmodel.evaluation.quality_summary import summary, with_related
from recmodel.evaluation.summary_merge import merge


def _related_report(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "context": {"reference": "full"},
                "summary": {
                    "full_masked_ndcg10_mean": 0.11,
                    "ablation_time_shuffled_delta": -0.004,
                    "ablation_time_shuffled_ci_low": -0.01,
                    "ablation_time_shuffled_ci_high": 0.002,
                    "ablation_time_shuffled_p_value": 0.2,
                    "ablation_time_shuffled_seeds": [0, 1],
                    "no_images_drop": {"full": 0.08},
                },
            }
        )
    )


def test_related_ablations_are_renamed_under_their_tag_and_own_keys_stay(tmp_path: Path) -> None:
    _related_report(tmp_path / "time.json")
    own = {"ratio": 1.18, "ablation_interactive_moe_delta": -0.005, "related": {"stale": {}}}
    merged = with_related(own, {"served": Path("time.json")}, tmp_path)
    assert merged["ratio"] == 1.18 and merged["ablation_interactive_moe_delta"] == -0.005
    assert merged["ablation_served_time_shuffled_delta"] == -0.004
    assert merged["ablation_served_time_shuffled_seeds"] == [0, 1]
    assert "ablation_served_full_masked_ndcg10_mean" not in merged
    assert merged["related"] == {
        "served": {
            "report": "time.json",
            "reference": "full",
            "reference_masked_ndcg10_mean": 0.11,
            "no_images_drop": {"full": 0.08},
        }
    }
    assert "related" not in with_related(own, {}, tmp_path)


def test_a_missing_related_report_or_a_bad_tag_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"related_summaries\.served"):
        with_related({}, {"served": Path("absent.json")}, tmp_path)
    with pytest.raises(ValueError, match="tag 'a-b'"):  # at config load, before any training
        EvalConfig.model_validate({"models": {"full": "full.yaml"}, "related_summaries": {"a-b": "time.json"}})


def test_summary_reports_the_reference_mean_over_its_seeds() -> None:
    runs = {
        "full": [
            {"test": {"warm_masked": {"ndcg@10": 0.1}, "warm": {"ndcg@10": 0.1}, "no_images": {"ndcg@10": 0.09}}},
            {"test": {"warm_masked": {"ndcg@10": 0.2}, "warm": {"ndcg@10": 0.1}, "no_images": {"ndcg@10": 0.09}}},
        ]
    }
    out = summary({}, runs, "full", "sasrec")
    assert out["full_masked_ndcg10_mean"] == pytest.approx(0.15)
    assert out["no_images_drop"]["full"] == pytest.approx(0.1)


def test_merge_rewrites_only_the_summary_of_the_configured_report(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    _related_report(reports / "time.json")
    (reports / "main.json").write_text(json.dumps({"headline": {"ratio": 1.2}, "summary": {"ratio": 1.2}}))
    config = tmp_path / "eval.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "models": {"full": "full.yaml"},
                "report_json": "reports/main.json",
                "related_summaries": {"served": "reports/time.json"},
            }
        )
    )
    merged = merge(config, tmp_path)
    written = json.loads((reports / "main.json").read_text())
    assert written["headline"] == {"ratio": 1.2}
    assert written["summary"] == merged and merged["ablation_served_time_shuffled_delta"] == -0.004
    assert [p.name for p in reports.iterdir() if p.name.startswith(".")] == []
