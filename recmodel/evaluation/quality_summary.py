"""The evaluation report's ``summary``: the headline numbers and one signed delta per ablation, flat keys for
dashboards and the README."""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def no_images_drop(runs: list[dict]) -> float | None:
    """Share of warm NDCG@10 (unmasked) a row loses when every image is absent at test time (seed means)."""
    warm = statistics.fmean(r["test"]["warm"]["ndcg@10"] for r in runs)
    blind = statistics.fmean(r["test"]["no_images"]["ndcg@10"] for r in runs)
    return 1.0 - blind / warm if warm > 0 else None


def summary(paired: dict[str, dict], runs: dict[str, list[dict]], reference: str, baseline: str) -> dict:
    """Headline (reference vs baseline, history masked, NDCG@10) and, for every other trained row, its paired
    difference *row minus reference* as ``ablation_<row>_delta`` with its interval, p-value and seeds (negative:
    the change costs NDCG@10), plus each trained row's no-images drop."""
    out: dict = {}
    headline = paired.get(f"{reference} vs {baseline}/warm_masked/ndcg@10")
    if headline is not None:
        out |= {
            f"{reference}_masked_ndcg10": headline["a_mean"],
            f"tuned_{baseline}_masked_ndcg10": headline["b_mean"],
            "ratio": headline["ratio"],
            "delta": headline["delta"],
            "ci_low": headline["ci_low"],
            "ci_high": headline["ci_high"],
            "p_value": headline["p_value"],
            "seeds": headline["seeds"],
        }
    for name in runs:
        if name in (reference, baseline):
            continue
        diff = paired.get(f"{reference} vs {name}/warm_masked/ndcg@10")
        if diff is None:
            continue
        out |= {
            f"ablation_{name}_delta": -diff["delta"],
            f"ablation_{name}_ci_low": -diff["ci_high"],
            f"ablation_{name}_ci_high": -diff["ci_low"],
            f"ablation_{name}_p_value": diff["p_value"],
            f"ablation_{name}_seeds": diff["seeds"],
        }
    reference_runs = runs.get(reference)
    if reference_runs:
        out[f"{reference}_masked_ndcg10_mean"] = statistics.fmean(
            r["test"]["warm_masked"]["ndcg@10"] for r in reference_runs
        )
    out["no_images_drop"] = {name: no_images_drop(rs) for name, rs in runs.items()}
    return out


def with_related(own: dict, related: dict[str, Path], root: Path = Path(".")) -> dict:
    """``own`` plus the ``ablation_*`` keys of other reports' summaries (tag -> report JSON), renamed
    ``ablation_<tag>_<row>_*``, and a ``related`` entry per tag saying which report and reference they come from.
    Paths are relative to ``root``; a missing report raises FileNotFoundError naming it.

    Used for ablations run in a separate evaluation (e.g. on the served rather than the searched configuration):
    each keeps its own reference, so a merged delta is always *row minus that report's reference*.
    """
    out = {k: v for k, v in own.items() if k != "related"}
    sources: dict[str, dict] = {}
    for tag, path in related.items():
        file = root / path
        if not file.is_file():
            raise FileNotFoundError(f"related_summaries.{tag}: no report at {file}")
        theirs = json.loads(file.read_text())
        found = theirs.get("summary") or {}
        reference = theirs.get("context", {}).get("reference", "full")
        for key, value in found.items():
            if key.startswith("ablation_"):
                out[f"ablation_{tag}_{key.removeprefix('ablation_')}"] = value
        sources[tag] = {
            "report": str(path),
            "reference": reference,
            "reference_masked_ndcg10_mean": found.get(f"{reference}_masked_ndcg10_mean"),
            "no_images_drop": found.get("no_images_drop", {}),
        }
    if sources:
        out["related"] = sources
    return out
