"""The evaluation report's markdown: targets, the random-ranking reference and the summary keys."""

from __future__ import annotations

import math

import pytest

from ranker.training.report import random_ndcg_at_10, render_markdown

METRICS = {f"{m}@{k}": [0.1, 0.1] for m in ("hr", "ndcg", "mrr") for k in (5, 10, 20, 50)}
SPLITS = ("warm", "cold", "no_images", "no_texts", "warm_masked", "cold_unboosted")


def test_random_ranking_reference() -> None:
    assert random_ndcg_at_10(1) == pytest.approx(1.0)
    assert random_ndcg_at_10(2) == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert random_ndcg_at_10(1682) == pytest.approx(0.0027, abs=5e-5)


def _model(warm: float, cold: float, no_images: float) -> dict:
    out = {s: {k: list(v) for k, v in METRICS.items()} for s in SPLITS}
    out["warm"]["ndcg@10"], out["cold"]["ndcg@10"], out["no_images"]["ndcg@10"] = (
        [warm] * 2,
        [cold] * 2,
        [no_images] * 2,
    )
    return out


def test_targets_table_and_summary_keys() -> None:
    report = {
        "full": _model(0.067, 0.012, 0.062),
        "sasrec": _model(0.060, 0.0, 0.060),
        "train_seconds": {"full": 420.0, "sasrec": 200.0},
        "new_item_boost_beta": {"full": [0.5, 0.5], "sasrec": [0.0, 0.0]},
    }
    run = {"best_epoch": 20, "final_contribution": {"text": 1.0}}
    context = {
        "items": 1682, "users": 943, "cold_items": 168, "warm_cases": 848, "cold_cases": 95, "seeds": [0, 1],
        "runs": {"full": [run, run], "sasrec": [run, run]},
    }  # fmt: skip
    text = render_markdown(report, context)
    assert "| full NDCG@10 ≥ 1.10x SASRec (warm) | 0.0670 vs 0.0600 = 1.12x | yes |" in text
    assert "0.0120 vs 0.0000 = ∞ (baseline 0) (random ranking: 0.0027) | yes |" in text
    assert "| dropping all images costs ≤ 10% NDCG@10 | 0.0620 vs 0.0670: 7.5% drop | yes |" in text
    assert "| full model trains in ≤ 10 min on 2 cores | 7.0 min (mean) | yes |" in text
    assert "| new_item_boost_beta |" not in text and "| train_seconds |" not in text
    assert "| full | 420 | 20, 20 | 0.50, 0.50 | text 1.00 |" in text
