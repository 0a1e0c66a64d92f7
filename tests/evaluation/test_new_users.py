"""New-user evaluation: histories cut to the first n events, popularity at n = 0, a report from a real artifact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recmodel import train
from recmodel.data.splits import Split
from recmodel.evaluation import new_users
from recmodel.evaluation.new_users import first_events
from recmodel.settings import REPO_ROOT


def test_first_events_keeps_each_users_earliest_training_events(synthetic_split: Split) -> None:
    cases = synthetic_split.test
    cut = first_events(cases, synthetic_split.train, 3)
    for row, user in enumerate(cut.users):
        expected = synthetic_split.train[user].items[:3]
        assert cut.histories[row].items.tolist() == expected.tolist()
        assert len(cut.histories[row].items) == 3
    assert (cut.targets == cases.subset(np.isin(cases.users, cut.users)).targets).all()
    assert len(first_events(cases, synthetic_split.train, 1)) >= len(cut)


@pytest.mark.slow
def test_new_user_report_from_a_trained_artifact(synthetic_root: Path, tmp_path: Path) -> None:
    artifact = tmp_path / "artifact"
    data, features = synthetic_root / "ml100k-mm", synthetic_root / "features"
    config = REPO_ROOT / "recmodel/configs/full.yaml"
    train.main(["--config", str(config), "--data", str(data), "--features", str(features), "--out", str(artifact),
                "--epochs", "1"])  # fmt: skip
    out = tmp_path / "report" / "new-users"
    new_users.main(["--artifact", str(artifact), "--data", str(data), "--features", str(features), "--out", str(out)])
    report = json.loads(out.with_suffix(".json").read_text())
    assert set(report["event_counts"]) == {"0", "1", "3"}
    zero = report["event_counts"]["0"]["systems"]
    assert zero["model"] == zero["popularity"] == zero["knn_text"]  # nobody seen: the popularity fallback
    for block in report["event_counts"].values():
        assert block["users"] > 0
        assert set(block["systems"]) == {"model", "popularity", "knn_text"}
    assert "| 3 |" in out.with_suffix(".md").read_text()
