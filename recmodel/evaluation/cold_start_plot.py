"""The cold-start report as a picture: per split, each system's three measurements with their 95% intervals."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = (
    ("cold_only/hr@10", "(a) cold-only HR@10"),
    ("cold_full/ndcg@10", "(b) cold users, full ranking NDCG@10"),
    ("warm/ndcg@10", "(c) warm users NDCG@10 (history masked)"),
)


def plot_cold_start(report: dict, path: Path) -> None:
    """One row per split, one panel per measurement: horizontal bars (means) with interval whiskers."""
    splits = list(report["splits"])
    if not splits:
        return
    fig, axes = plt.subplots(len(splits), len(PANELS), figsize=(15, 3.2 * len(splits)), squeeze=False)
    for row, name in enumerate(splits):
        systems = report["splits"][name]["systems"]
        names = list(systems)
        for col, (key, title) in enumerate(PANELS):
            ax = axes[row][col]
            means = [systems[s]["intervals"][key]["mean"] for s in names]
            low = [m - systems[s]["intervals"][key]["ci_low"] for s, m in zip(names, means, strict=True)]
            high = [systems[s]["intervals"][key]["ci_high"] - m for s, m in zip(names, means, strict=True)]
            colours = ["tab:red" if s == report["primary"] else "tab:blue" for s in names]
            ax.barh(names, means, xerr=[low, high], color=colours, alpha=0.8, capsize=3)
            ax.invert_yaxis()
            ax.set_title(f"{name} split: {title}", fontsize=9)
            ax.tick_params(labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
