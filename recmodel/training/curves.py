"""Training-curve plot: losses, validation NDCG@20 and per-modality contribution per epoch."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_training_curves(history: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Write a three-panel PNG from the per-epoch records of :func:`recmodel.training.loop.train`."""
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key in sorted({k for r in history for k in r if k.startswith("loss/")}):
        axes[0].plot(epochs, [r.get(key, float("nan")) for r in history], label=key.removeprefix("loss/"))
    axes[0].set_title("training losses")
    axes[0].legend(fontsize=8)
    for key in ("valid/ndcg@20", "valid/hr@10", "valid/ndcg@10"):
        axes[1].plot(epochs, [r.get(key, float("nan")) for r in history], marker="o", label=key)
    axes[1].set_title("validation")
    axes[1].legend(fontsize=8)
    for key in sorted({k for r in history for k in r if k.startswith("contribution/")}):
        axes[2].plot(epochs, [r.get(key, float("nan")) for r in history], label=key.removeprefix("contribution/"))
    axes[2].set_title("modality contribution (counterfactual margin)")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("epoch")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
