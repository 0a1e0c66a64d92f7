"""The evaluation report's statistics: per-user intervals, paired bootstrap tests and the baselines' rows.

Every run keeps the 0-based rank of each warm test user's target (``ranks.warm`` unmasked, ``ranks.warm_masked``
with everything the user saw before removed). A row's value for a user is that user's metric averaged over the
row's seeds; intervals and paired tests resample users (``recmodel.evaluation.bootstrap``), so a comparison of two
rows uses the seeds both have, user by user. A difference whose 95% interval includes 0 is reported as
"no measurable difference".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recmodel.data.splits import EvalCases, Split
from recmodel.evaluation.baselines import KNN_K_GRID, ContentKnn, content_vectors, popularity_scores
from recmodel.evaluation.bootstrap import RESAMPLES, PairedDifference, bootstrap_interval, paired_bootstrap
from recmodel.evaluation.protocol import masked, per_case_metrics
from recmodel.evaluation.quality_summary import summary
from recmodel.metrics import target_ranks
from recmodel.model.catalogue import Catalogue

PROTOCOLS = ("warm_masked", "warm")  # the headline protocol first
METRICS = ("ndcg@10", "hr@10")
NO_DIFFERENCE = "no measurable difference"


def per_user(runs: list[dict], protocol: str, metric: str, seeds: list[int] | None = None) -> np.ndarray:
    """(users,) ``metric`` of each warm test user averaged over the runs (of ``seeds`` when given)."""
    chosen = [r for r in runs if seeds is None or r["seed"] in seeds]
    if not chosen:
        raise ValueError("per_user: no run of the requested seeds")
    users = chosen[0]["ranks"]["warm_users"]
    values = []
    for run in chosen:
        if run["ranks"]["warm_users"] != users:
            raise ValueError(f"per_user: {run['model']} seed {run['seed']} has other test users than the first run")
        values.append(per_case_metrics(np.asarray(run["ranks"][protocol]))[metric])
    return np.mean(values, axis=0)


def verdict(diff: PairedDifference, a: str, b: str) -> str:
    """Which of ``a`` (first) and ``b`` is better, or that the difference is not measurable."""
    if not diff.significant:
        return NO_DIFFERENCE
    return f"{a} better" if diff.delta > 0 else f"{b} better"


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    out = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        out[i] = running
    return out


def compare(
    a_runs: list[dict], b_runs: list[dict], protocol: str, metric: str, resamples: int = RESAMPLES
) -> dict | None:
    """Paired bootstrap of row a minus row b over users, on the seeds both have (a baseline without seeds pairs
    with every seed of a). None when they share no seed."""
    a_seeds = {r["seed"] for r in a_runs}
    b_seeds = {r["seed"] for r in b_runs}
    deterministic = b_seeds == {None}
    common = sorted(a_seeds if deterministic else a_seeds & b_seeds)
    if not common:
        return None
    a = per_user(a_runs, protocol, metric, common)
    b = per_user(b_runs, protocol, metric, None if deterministic else common)
    diff = paired_bootstrap(a, b, resamples=resamples)
    return diff.as_dict() | {
        "seeds": common,
        "a_mean": float(a.mean()),
        "b_mean": float(b.mean()),
        "ratio": float(a.mean() / b.mean()) if b.mean() > 0 else math.inf,
    }


def row_summary(runs: list[dict], resamples: int = RESAMPLES) -> dict:
    """Intervals over users (seed-averaged) and per-seed means of every protocol and metric of one row."""
    out: dict = {"seeds": [r["seed"] for r in runs]}
    for protocol in PROTOCOLS:
        for metric in METRICS:
            key = f"{protocol}/{metric}"
            out[key] = bootstrap_interval(per_user(runs, protocol, metric), resamples=resamples).as_dict()
            per_seed = [float(per_case_metrics(np.asarray(r["ranks"][protocol]))[metric].mean()) for r in runs]
            out[key]["per_seed"] = per_seed
            out[key]["seed_std"] = statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0
    return out


def _knn_k(split: Split, vectors: np.ndarray) -> tuple[int, dict[int, float]]:
    """k of content-kNN with the best validation NDCG@10 on warm targets, history masked (never the test)."""
    valid = split.valid.subset(split.train_items[split.valid.targets])
    table = {}
    for k in KNN_K_GRID:
        ranks = target_ranks(masked(ContentKnn(vectors, k).scores(valid), valid), valid.targets)
        table[k] = float(per_case_metrics(ranks)["ndcg@10"].mean())
    return max(table, key=lambda k: (table[k], -k)), table


def baseline_runs(split: Split, catalogue: Catalogue) -> dict[str, dict]:
    """Popularity and content-kNN (raw encoder vectors: text, image, both) as runs on the warm test users."""
    warm = split.test.subset(~split.test.cold)
    scorers: dict[str, tuple[Callable[[EvalCases], np.ndarray], dict]] = {
        "popularity": (lambda cases: popularity_scores(split, cases), {})
    }
    for modality in ("text", "image", "both"):
        vectors = content_vectors(catalogue, modality, split.train_items)
        k, table = _knn_k(split, vectors)
        knn = ContentKnn(vectors, k)
        scorers[f"content_knn_{modality}"] = (knn.scores, {"k": k, "k_selection": table})
    out = {}
    for name, (score, info) in scorers.items():
        scores = score(warm)
        out[name] = {
            "model": name,
            "seed": None,
            "ranks": {
                "warm_users": warm.users.tolist(),
                "warm": target_ranks(scores, warm.targets).tolist(),
                "warm_masked": target_ranks(masked(scores, warm), warm.targets).tolist(),
            },
        } | info
    return out


def _seed_mean(runs: list[dict], split: str, metric: str) -> tuple[float, float]:
    values = [r["test"][split][metric] for r in runs]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def assemble_report(
    runs: dict[str, list[dict]],
    split: Split,
    catalogue: Catalogue,
    eval_cfg,
    search: dict[str, list[dict]],
    baselines: bool,
    context: dict,
) -> tuple[dict, str, Callable[[Path], None] | None]:
    """(report JSON, markdown, plot writer) of one evaluation."""
    from recmodel.evaluation.quality_report import plot_paired, render_markdown

    names = list(runs)
    report: dict = {
        name: {
            s: {m: [r["test"][s][m] for r in runs[name]] for m in runs[name][0]["test"][s]}
            for s in runs[name][0]["test"]
        }
        for name in names
    }
    report["train_seconds"] = {n: statistics.fmean(r["train_seconds"] for r in runs[n]) for n in names}
    report["new_item_boost_beta"] = {n: [r["new_item_boost"]["beta"] for r in runs[n]] for n in names}
    report["seeds"] = {n: [r["seed"] for r in runs[n]] for n in names}
    report["runs"] = {
        n: [
            {
                "seed": r["seed"],
                "train_seconds": r["train_seconds"],
                "best_epoch": r["best_epoch"],
                "epochs_run": r["epochs_run"],
                "finished_at": r.get("finished_at"),
                "load_average": r.get("load_average"),
                "max_len": r["config"]["data"]["max_len"],
                "dim": r["config"]["model"]["dim"],
                "dropout": r["config"]["model"]["dropout"],
                "lr": r["config"]["train"]["lr"],
            }
            for r in runs[n]
        ]
        for n in names
    }
    report["search"] = search
    base = baseline_runs(split, catalogue) if baselines else {}
    report["baselines"] = {
        n: {k: v for k, v in b.items() if k not in ("ranks", "model", "seed")}
        | {p: {m: float(per_case_metrics(np.asarray(b["ranks"][p]))[m].mean()) for m in METRICS} for p in PROTOCOLS}
        for n, b in base.items()
    }
    rows = {n: runs[n] for n in names} | {n: [b] for n, b in base.items()}
    report["intervals"] = {n: row_summary(rs) for n, rs in rows.items()}
    ref = eval_cfg.reference
    paired: dict[str, dict] = {}
    if ref in runs:
        for other, other_runs in rows.items():
            if other == ref:
                continue
            for protocol in PROTOCOLS:
                for metric in METRICS:
                    result = compare(runs[ref], other_runs, protocol, metric)
                    if result is not None:
                        paired[f"{ref} vs {other}/{protocol}/{metric}"] = result | {"a": ref, "b": other}
        headline_keys = [k for k in paired if k.endswith("/warm_masked/ndcg@10")]
        adjusted = holm([paired[k]["p_value"] for k in headline_keys])
        for key, p_adj in zip(headline_keys, adjusted, strict=True):
            paired[key]["p_holm"] = p_adj
        for value in paired.values():
            diff = PairedDifference(value["delta"], value["ci_low"], value["ci_high"], value["p_value"])
            value["verdict"] = verdict(diff, value["a"], value["b"])
    report["paired"] = paired
    headline = paired.get(f"{ref} vs {eval_cfg.baseline}/warm_masked/ndcg@10")
    report["headline"] = headline
    report["summary"] = summary(paired, runs, ref, eval_cfg.baseline)
    cases = split.test
    info = {
        "items": split.num_items,
        "users": len(split.user_ids),
        "cold_items": int(split.cold_items.sum()),
        "warm_cases": int((~cases.cold).sum()),
        "cold_cases": int(cases.cold.sum()),
        "seeds": eval_cfg.seeds,
        "workers": eval_cfg.workers,
        "reference": ref,
        "baseline": eval_cfg.baseline,
        "notes": eval_cfg.notes,
    } | context
    # what this invocation trained is in the markdown only: the JSON is a function of the cached runs
    report["context"] = {k: v for k, v in info.items() if k not in ("notes", "trained", "wall_seconds")}
    markdown = render_markdown(report, info, runs)

    def plot(path: Path) -> None:
        plot_paired(report, path)

    return report, markdown, plot if paired else None
