"""Aggregating cold-start runs (means over seeds, pooled bootstrap intervals, paired tests) and the markdown."""

from __future__ import annotations

import numpy as np

from recmodel.evaluation.bootstrap import bootstrap_interval, paired_bootstrap
from recmodel.evaluation.protocol import METRICS

MEASUREMENTS = ("cold_only", "cold_full", "warm")
KNN_PREFIX = "knn_"
TARGETS = {
    "cold_full_ratio": 0.30,  # cold users' full-ranking NDCG@10 / the same model's warm (masked) NDCG@10
    "cold_only_hr10": 0.30,
    "cold_only_vs_knn": 1.3,
}


def _by_split(results: list[dict]) -> dict[str, dict[str, list[tuple[dict, dict]]]]:
    """split name -> system -> [(spec, system result)] in (split seed, train seed) order."""
    out: dict[str, dict[str, list[tuple[dict, dict]]]] = {}
    for run in sorted(results, key=lambda r: (r["spec"]["split_seed"], r["spec"]["train_seed"])):
        for system, result in run["systems"].items():
            out.setdefault(run["spec"]["split"], {}).setdefault(system, []).append((run["spec"], result))
    return out


def _aligned(runs: list[tuple[dict, dict]], on: list[tuple[dict, dict]], measurement: str, metric: str) -> np.ndarray:
    """Per-case values of ``runs`` lined up with the runs ``on`` (same split seed; same training seed when the
    system has one per training seed)."""
    parts = []
    for spec, _ in on:
        match = [r for s, r in runs if s["split_seed"] == spec["split_seed"] and s["train_seed"] == spec["train_seed"]]
        match = match or [r for s, r in runs if s["split_seed"] == spec["split_seed"]]
        parts.append(np.asarray(match[0][measurement][metric], dtype=np.float64))
    return np.concatenate(parts) if parts else np.zeros(0)


def _pooled(runs: list[tuple[dict, dict]], measurement: str, metric: str) -> np.ndarray:
    return np.concatenate([np.asarray(r[measurement][metric], dtype=np.float64) for _, r in runs])


def _system_summary(runs: list[tuple[dict, dict]]) -> dict:
    keys = runs[0][1]["summary"].keys()
    out: dict = {
        "runs": len(runs),
        "mean": {k: float(np.mean([r["summary"][k] for _, r in runs])) for k in keys},
        "per_run": {k: [r["summary"][k] for _, r in runs] for k in keys},
        "intervals": {
            f"{m}/{metric}": bootstrap_interval(_pooled(runs, m, metric)).as_dict()
            for m in MEASUREMENTS
            for metric in METRICS
        },
    }
    for extra in ("train_seconds", "new_item_boost_beta", "k"):
        if extra in runs[0][1]:
            out[extra] = [r[extra] for _, r in runs]
    return out


def aggregate(results: list[dict], primary: str, split_names: list[str]) -> dict:
    """The JSON report: per split, every system's means and intervals, paired tests and the issue's summary."""
    grouped = _by_split(results)
    report: dict = {"primary": primary, "splits": {}}
    for name in split_names:
        systems = grouped.get(name, {})
        if not systems:
            continue
        sizes = {r["spec"]["split_seed"]: r["split"] for r in results if r["spec"]["split"] == name}
        block: dict = {
            "sizes": [sizes[seed] for seed in sorted(sizes)],  # one per split seed
            "systems": {s: _system_summary(runs) for s, runs in systems.items()},
        }
        knns = [s for s in systems if s.startswith(KNN_PREFIX)]
        best_knn = max(knns, key=lambda s: block["systems"][s]["mean"]["cold_only/hr@10"], default=None)
        block["best_knn"] = best_knn
        if primary in systems:
            mine = block["systems"][primary]["mean"]
            runs = systems[primary]
            paired = {}
            for other in [s for s in systems if s != primary]:
                for measurement, metric in (("cold_only", "hr@10"), ("cold_full", "ndcg@10"), ("warm", "ndcg@10")):
                    a = _pooled(runs, measurement, metric)
                    b = _aligned(systems[other], runs, measurement, metric)
                    paired[f"{other}/{measurement}/{metric}"] = paired_bootstrap(a, b).as_dict()
            block["paired_vs_primary"] = paired
            knn_hr = block["systems"][best_knn]["mean"]["cold_only/hr@10"] if best_knn else 0.0
            warm = mine["warm/ndcg@10"]
            block["summary"] = {
                "cold_users_full_ndcg10": mine["cold_full/ndcg@10"],
                "warm_masked_ndcg10": warm,
                "cold_warm_ratio": mine["cold_full/ndcg@10"] / warm if warm > 0 else 0.0,
                "cold_only_hr10": mine["cold_only/hr@10"],
                "best_knn": best_knn,
                "best_knn_cold_only_hr10": knn_hr,
                "cold_only_vs_best_knn": mine["cold_only/hr@10"] / knn_hr if knn_hr > 0 else 0.0,
                "cold_exposure_top10": mine["exposure_top10"],
                "exposure_cost_ndcg10": mine["exposure_cost_ndcg10"],
                "warm_no_images_drop": 1.0 - mine.get("warm_no_images/ndcg@10", warm) / warm if warm > 0 else 0.0,
            }
        report["splits"][name] = block
    return report


def _ci(interval: dict) -> str:
    return f"{interval['mean']:.4f} [{interval['ci_low']:.4f}, {interval['ci_high']:.4f}]"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render_markdown(report: dict) -> str:
    """The human-readable report: targets, then per split the three measurements for every system."""
    primary = report["primary"]
    lines = [
        "# Cold start on ml100k-mm",
        "",
        "Generated by `make cold-start` (`python -m recmodel.evaluation.cold_start`); numbers are means over the runs "
        "of a split, intervals are 95% percentile-bootstrap intervals over the pooled test users of those runs. "
        "Every ranking masks the items the user interacted with before the target. Cold items are removed from "
        "training and from every user's history (a history that contained one keeps its other events).",
        "",
        "## Targets",
        "",
        "| split | cold users full NDCG@10 / warm | cold-only HR@10 | vs best content-kNN | warm masked NDCG@10 "
        "| cold share of warm top 10 | no-images drop |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, block in report["splits"].items():
        s = block.get("summary")
        if not s:
            continue
        ratio_ok = s["cold_warm_ratio"] >= TARGETS["cold_full_ratio"]
        hr_ok = s["cold_only_hr10"] >= TARGETS["cold_only_hr10"]
        paired = block["paired_vs_primary"].get(f"{s['best_knn']}/cold_only/hr@10", {})
        knn_ok = s["cold_only_vs_best_knn"] >= TARGETS["cold_only_vs_knn"] and paired.get("ci_low", 0) > 0
        lines.append(
            f"| {name} | {s['cold_users_full_ndcg10']:.4f} / {s['warm_masked_ndcg10']:.4f} = "
            f"{s['cold_warm_ratio']:.2f} (≥ 0.30: {_verdict(ratio_ok)}) "
            f"| {s['cold_only_hr10']:.3f} (≥ 0.30: {_verdict(hr_ok)}) "
            f"| {s['cold_only_vs_best_knn']:.2f}x {s['best_knn']} ({s['best_knn_cold_only_hr10']:.3f}); paired "
            f"Δ {paired.get('delta', 0):+.3f} [{paired.get('ci_low', 0):+.3f}, {paired.get('ci_high', 0):+.3f}], "
            f"p {paired.get('p_value', 1):.3f} (≥ 1.3x and significant: {_verdict(knn_ok)}) "
            f"| {s['warm_masked_ndcg10']:.4f} "
            f"| {s['cold_exposure_top10']:.3f} (costs {s['exposure_cost_ndcg10']:+.4f}) "
            f"| {s['warm_no_images_drop']:.1%} |"
        )
    for name, block in report["splits"].items():
        lines += ["", f"## Split `{name}`", ""]
        for size in block["sizes"]:
            lines.append(
                f"- {size['items']} items, {size['cold_items']} cold; test cases: {size['cold_test_cases']} cold, "
                f"{size['warm_test_cases']} warm; validation cold cases {size['cold_valid_cases']}"
            )
        titles = {
            "cold_only": "(a) Cold-only: cold targets ranked among the cold items",
            "cold_full": "(b) Cold users, full ranking: cold targets among all items",
            "warm": "(c) Warm users: warm targets among all items",
        }
        for measurement, title in titles.items():
            lines += ["", f"### {title}", "", "| system | runs | " + " | ".join(METRICS) + " |"]
            lines.append("| --- | --- |" + " --- |" * len(METRICS))
            for system, summary in block["systems"].items():
                cells = [_ci(summary["intervals"][f"{measurement}/{m}"]) for m in METRICS]
                lines.append(
                    f"| {system}{' (primary)' if system == primary else ''} | {summary['runs']} | "
                    + " | ".join(cells)
                    + " |"
                )
        lines += [
            "",
            "### Exposure of cold items to warm users",
            "",
            "| system | cold share of top 10 | warm NDCG@10 | without cold items | cost |",
            "| --- | --- | --- | --- | --- |",
        ]
        for system, summary in block["systems"].items():
            m = summary["mean"]
            lines.append(
                f"| {system} | {m['exposure_top10']:.3f} | {m['warm/ndcg@10']:.4f} | "
                f"{m['warm_without_cold/ndcg@10']:.4f} | {m['exposure_cost_ndcg10']:+.4f} |"
            )
        if "paired_vs_primary" in block:
            lines += [
                "",
                f"### Paired bootstrap: {primary} minus each system (same test users)",
                "",
                "| system / measurement | Δ | 95% interval | p | verdict |",
                "| --- | --- | --- | --- | --- |",
            ]
            for key, d in block["paired_vs_primary"].items():
                verdict = "significant" if d["significant"] else "no measurable difference"
                lines.append(
                    f"| {key} | {d['delta']:+.4f} | [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] | "
                    f"{d['p_value']:.3f} | {verdict} |"
                )
        extras = [(s, v) for s, v in block["systems"].items() if "train_seconds" in v or "k" in v]
        if extras:
            lines += [
                "",
                "Per system: "
                + "; ".join(
                    f"{s}: "
                    + ", ".join(
                        part
                        for part in (
                            f"train {np.mean(v['train_seconds']):.0f} s" if "train_seconds" in v else "",
                            f"boost beta {v['new_item_boost_beta']}" if "new_item_boost_beta" in v else "",
                            f"k {v['k']}" if "k" in v else "",
                        )
                        if part
                    )
                    for s, v in extras
                ),
            ]
    if report.get("notes"):
        lines += ["", "## Notes", "", report["notes"].strip()]
    return "\n".join(lines) + "\n"
