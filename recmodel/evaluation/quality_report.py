"""Markdown and PNG of the evaluation report (``recmodel.evaluation.quality`` computes what they show)."""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from recmodel.training.report import random_ndcg_at_10

HEADLINE = "warm_masked/ndcg@10"


def _ci(value: dict, digits: int = 4) -> str:
    return f"{value['mean']:.{digits}f} [{value['ci_low']:.{digits}f}, {value['ci_high']:.{digits}f}]"


def _diff(value: dict) -> str:
    return f"{value['delta']:+.4f} [{value['ci_low']:+.4f}, {value['ci_high']:+.4f}]"


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _missing(entries: list[str]) -> str:
    """'name seed 1', 'name seed 2', 'other (...)' -> 'name: seeds 1, 2; other (...)'."""
    grouped: dict[str, list[str]] = {}
    for entry in entries:
        name, sep, seed = entry.rpartition(" seed ")
        if sep:
            grouped.setdefault(name, []).append(seed)
        else:
            grouped.setdefault(entry, [])
    return "; ".join(f"{n}: seed{'s' if len(s) > 1 else ''} {', '.join(s)}" if s else n for n, s in grouped.items())


def _seeds(seeds: list) -> str:
    if seeds == [None]:
        return "- (deterministic)"
    return f"{len(seeds)} ({', '.join(str(s) for s in seeds)})"


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {std:.4f}"


def render_markdown(report: dict, info: dict, runs: dict[str, list[dict]]) -> str:
    """The report: headline (history masked), every row with intervals, paired comparisons, search, runs."""
    ref, base = info["reference"], info["baseline"]
    lines = [
        "# ml100k-mm offline evaluation",
        "",
        f"Leave-one-out by time, full ranking over all {info['items']} items, {info['users']} users; "
        f"{info['cold_items']} cold items (every interaction withheld from training); {info['warm_cases']} warm and "
        f"{info['cold_cases']} cold test users. **Headline protocol: warm test targets with the user's whole history "
        "masked from the ranking** (an item the user already rated cannot be the answer, so no model gains or loses "
        "by re-recommending it). Intervals: 95% percentile bootstrap over the warm test users (2000 resamples) of "
        "each user's metric averaged over the row's seeds; paired comparisons resample the same users for both rows "
        "on the seeds both have. A difference whose interval includes 0 is reported as *no measurable difference*. "
        "Ties rank against the target.",
        "",
    ]
    if info.get("missing"):
        lines += [f"**Not run (cut or incomplete)**: {_missing(info['missing'])}.", ""]
    headline = report.get("headline")
    intervals = report["intervals"]
    if headline:
        warm = report["paired"].get(f"{ref} vs {base}/warm/ndcg@10")
        hr = report["paired"].get(f"{ref} vs {base}/warm_masked/hr@10")
        lines += [
            "## Headline",
            "",
            f"**{ref} vs tuned {base}, warm NDCG@10 with history masked on both sides: {headline['a_mean']:.4f} vs "
            f"{headline['b_mean']:.4f} = {headline['ratio']:.2f}x; difference {_diff(headline)}, paired bootstrap "
            f"p {_p(headline['p_value'])} over {info['warm_cases']} users, seeds {headline['seeds']}: "
            f"{headline['verdict']}.**",
            "",
            "| comparison (same users, same seeds) | " + ref + " | " + base + " | ratio | difference [95% CI] | p | "
            "verdict |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for label, value in (
            ("NDCG@10, history masked (headline)", headline),
            ("HR@10, history masked", hr),
            ("NDCG@10, history unmasked (both unmasked)", warm),
        ):
            if value:
                lines.append(
                    f"| {label} | {value['a_mean']:.4f} | {value['b_mean']:.4f} | {value['ratio']:.2f}x | "
                    f"{_diff(value)} | {_p(value['p_value'])} | {value['verdict']} |"
                )
        lines += [
            "",
            "Every ratio in this report compares like with like: masked with masked, unmasked with unmasked. "
            f"Random ranking scores {random_ndcg_at_10(info['items']):.4f} NDCG@10.",
            "",
        ]
    lines += [
        "## Every row (warm test users)",
        "",
        "Mean [95% CI over users]; per-seed mean ± std over seeds; `cold` is NDCG@10 of cold targets with the "
        "new-item boost (history unmasked, every row alike); `no images` is unmasked warm NDCG@10 with every image "
        "dropped at test time, against the row's own unmasked warm value.",
        "",
        "| row | seeds | NDCG@10 masked | HR@10 masked | NDCG@10 masked per seed | NDCG@10 unmasked | cold NDCG@10 "
        "| no images | train min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, summary in intervals.items():
        masked_ndcg = summary["warm_masked/ndcg@10"]
        per_seed = _mean_std(masked_ndcg["per_seed"]) if summary["seeds"] != [None] else "-"
        if name in runs:
            rs = runs[name]
            unmasked = _mean_std([r["test"]["warm"]["ndcg@10"] for r in rs])
            cold = _mean_std([r["test"]["cold"]["ndcg@10"] for r in rs])
            warm_mean = statistics.fmean(r["test"]["warm"]["ndcg@10"] for r in rs)
            img = statistics.fmean(r["test"]["no_images"]["ndcg@10"] for r in rs)
            no_images = f"{img:.4f} ({100 * (1 - img / warm_mean):+.1f}% drop)" if warm_mean > 0 else "-"
            minutes = f"{statistics.fmean(r['train_seconds'] for r in rs) / 60:.1f}"
        else:
            unmasked = _ci(summary["warm/ndcg@10"])
            cold, no_images, minutes = "-", "-", "0"
            k = report["baselines"].get(name, {}).get("k")
            if k is not None:
                name = f"{name} (k={k})"
        lines.append(
            f"| {name} | {_seeds(summary['seeds'])} | {_ci(masked_ndcg)} | {_ci(summary['warm_masked/hr@10'])} | "
            f"{per_seed} | {unmasked} | {cold} | {no_images} | {minutes} |"
        )
    lines += [
        "",
        f"## Paired comparisons: {ref} minus each row",
        "",
        "NDCG@10 with history masked, same users, the seeds both rows have (a deterministic baseline pairs with "
        f"every seed of {ref}). p: two-sided paired bootstrap; Holm: adjusted for the number of comparisons in this "
        "table.",
        "",
        f"| row | seeds | {ref} | row | difference [95% CI] | p | p (Holm) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, value in report["paired"].items():
        if not key.endswith(f"/{HEADLINE}"):
            continue
        lines.append(
            f"| {value['b']} | {len(value['seeds'])} | {value['a_mean']:.4f} | {value['b_mean']:.4f} | "
            f"{_diff(value)} | {_p(value['p_value'])} | {_p(value.get('p_holm', value['p_value']))} | "
            f"{value['verdict']} |"
        )
    if info.get("plot"):
        lines += ["", f"Picture: the differences with their 95% intervals (`{info['plot']}`).", ""]
    if report.get("search"):
        lines += [
            "## Configuration search (validation only)",
            "",
            "Each candidate trained on the search seed; the one with the best validation NDCG@10 (warm targets, "
            "history masked) ran on every seed. The test split was not looked at. Candidates per model: "
            + ", ".join(f"{m} {len(rows)}" for m, rows in report["search"].items())
            + "; "
            + (", ".join(n for n in runs if n not in report["search"]) or "no other row")
            + " ran as configured (one configuration).",
            "",
            "| model | candidate | overrides | valid NDCG@10 masked | valid HR@10 masked | train min | chosen |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for model, rows in report["search"].items():
            for row in rows:
                ndcg, hr, seconds = row["valid_masked_ndcg@10"], row["valid_masked_hr@10"], row["train_seconds"]
                lines.append(
                    f"| {model} | {row['candidate']} | `{row['overrides'] or 'as configured'}` | {_num(ndcg)} | "
                    f"{_num(hr)} | {_num(None if seconds is None else seconds / 60, 1)} | "
                    f"{'yes' if row.get('chosen') else ''} |"
                )
        lines.append("")
    lines += [
        "## Runs",
        "",
        "| row | seed | max_len | dim | dropout | lr | train min | best epoch | finished (UTC) | load average "
        "(1/5/15 min) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rows in report["runs"].items():
        for r in rows:
            load = "/".join(f"{x:.1f}" for x in r["load_average"]) if r.get("load_average") else "-"
            lines.append(
                f"| {name} | {r['seed']} | {r['max_len']} | {r['dim']} | {r['dropout']} | {r['lr']} | "
                f"{r['train_seconds'] / 60:.1f} | {r['best_epoch']}/{r['epochs_run']} | "
                f"{r.get('finished_at') or '-'} | {load} |"
            )
    wall = info.get("wall_seconds")
    lines += [
        "",
        f"{info.get('workers', 1)} single-threaded training processes side by side; "
        + (
            f"this invocation trained {len(info.get('trained', []))} runs in {wall / 60:.1f} min."
            if wall
            else "assembled from cached runs."
        )
        + " Load average: the machine's, when the run finished (2 cores).",
        "",
    ]
    if info.get("notes"):
        lines += ["## Notes", "", info["notes"].strip(), ""]
    return "\n".join(lines)


def plot_paired(report: dict, path: Path) -> None:
    """Horizontal interval plot of each paired difference (reference minus row, masked NDCG@10)."""
    rows = [v for k, v in report["paired"].items() if k.endswith(f"/{HEADLINE}")]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    names = [f"{v['b']} ({len(v['seeds'])} seeds)" for v in rows]
    deltas = [v["delta"] for v in rows]
    err = [[v["delta"] - v["ci_low"] for v in rows], [v["ci_high"] - v["delta"] for v in rows]]
    colours = ["tab:green" if v["ci_low"] > 0 else "tab:red" if v["ci_high"] < 0 else "tab:grey" for v in rows]
    for i, colour in enumerate(colours):
        ax.errorbar([deltas[i]], [i], xerr=[[err[0][i]], [err[1][i]]], fmt="none", ecolor=colour, capsize=3)
    ax.scatter(deltas, range(len(rows)), c=colours, zorder=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ref = rows[0]["a"]
    ax.set_xlabel(f"{ref} minus row: warm NDCG@10, history masked (95% paired bootstrap interval)")
    ax.set_title(
        f"{ref} vs each row (green: {ref} better, red: row better, grey: no measurable difference)", fontsize=9
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
