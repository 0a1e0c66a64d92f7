"""The evaluation's up-front estimate: runs planned (search candidates, seeds, bases of the chosen rows) and the
minutes per run taken from the run cache."""

from __future__ import annotations

import json
from pathlib import Path

from recmodel.evaluation.plan import EvalConfig
from recmodel.evaluation.progress import Progress, minutes_per_run, planned_runs

CONFIG = EvalConfig.model_validate(
    {
        "seeds": [0, 1, 2],
        "search_seed": 0,
        "models": {
            "full": {"config": "full.yaml", "search": [{}, {"a": 1}, {"b": 2}]},
            "ablation": {"base": "full", "config": "x.yaml", "seeds": [0, 1]},
            "plain": "plain.yaml",
        },
    }
)


def test_planned_runs_count_candidates_seeds_and_the_bases_an_ablation_needs() -> None:
    # full: 3 seeds + 3 candidates, one of which is its seed-0 run; ablation: 2; plain: 3
    assert planned_runs(CONFIG, ["full", "ablation", "plain"]) == 5 + 2 + 3
    # the ablation alone still needs full's search decided (3 candidates), not full's seeds
    assert planned_runs(CONFIG, ["ablation"]) == 3 + 2
    assert planned_runs(CONFIG, ["plain"]) == 3


def test_minutes_per_run_from_the_cache_else_the_configured_default(tmp_path: Path) -> None:
    assert minutes_per_run(tmp_path, 7.0) == (7.0, "expected_run_minutes (no cached run yet)")
    for i, seconds in enumerate([60, 120, 600]):
        (tmp_path / f"run{i}.json").write_text(json.dumps({"train_seconds": seconds}))
    (tmp_path / "broken.json").write_text("{")
    assert minutes_per_run(tmp_path, 7.0) == (2.0, "median of 3 cached runs")


def test_remaining_time_uses_the_estimate_until_a_run_has_trained() -> None:
    progress = Progress(total=10, workers=2, minutes=6.0, source="test")
    for _ in range(4):
        progress.found_cached()
    assert progress.done == 4 and progress.remaining_s() == 6 * 6.0 * 60 / 2
    progress.finished("full", 0)
    assert progress.done == 5 and 0 <= progress.remaining_s() < 60  # 5 left at the (instant) measured pace
