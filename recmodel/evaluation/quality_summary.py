"""The evaluation report's ``summary``: the headline numbers and one signed delta per ablation, flat keys for
dashboards and the README."""

from __future__ import annotations

import statistics


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
    out["no_images_drop"] = {name: no_images_drop(rs) for name, rs in runs.items()}
    return out
