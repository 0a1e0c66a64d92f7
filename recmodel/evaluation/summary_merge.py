"""Refresh an evaluation report's ``summary`` with its ``related_summaries`` without re-assembling the report:

    python -m recmodel.evaluation.summary_merge --config recmodel/configs/eval_ml100k.yaml

For a report whose runs are no longer in the run cache, after a related evaluation (e.g. the time ablations on the
served configuration) has written its own report. Only ``summary`` changes; the write is atomic.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from kairos.durable import write_bytes_atomic
from recmodel.evaluation.plan import EvalConfig
from recmodel.evaluation.quality_summary import with_related
from recmodel.settings import REPO_ROOT
from recmodel.training.config import load_raw


def merge(config: Path, root: Path = REPO_ROOT) -> dict:
    """Rewrite the config's report JSON with its summary merged with the related reports' ablations."""
    eval_cfg = EvalConfig.model_validate(load_raw(config))
    target = root / eval_cfg.report_json
    if not target.is_file():
        raise FileNotFoundError(f"report_json: no report at {target}; run the evaluation first")
    report = json.loads(target.read_text())
    report["summary"] = with_related(report.get("summary") or {}, eval_cfg.related_summaries, root)
    write_bytes_atomic(target, json.dumps(report, indent=2).encode())
    return report["summary"]


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m recmodel.evaluation.summary_merge", description=__doc__)
    p.add_argument("--config", type=Path, default=REPO_ROOT / "recmodel/configs/eval_ml100k.yaml")
    args = p.parse_args(argv)
    merged = merge(args.config)
    print(json.dumps({k: v for k, v in merged.items() if k.startswith("ablation_")}, indent=2))


if __name__ == "__main__":
    main()
