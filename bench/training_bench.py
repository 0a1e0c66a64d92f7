"""Training cost against catalogue size: seconds per step and per epoch of the full model, full vs sampled softmax.

    nice -n 10 .venv/bin/python -m bench.training_bench [--sizes 1682 10000 100000] [--steps 3] [--out FILE]

The model and every loss are ``recmodel/configs/full.yaml``'s (batch 128, one torch thread); only
``loss.softmax`` changes: ``full`` (every step embeds and scores the whole catalogue) or ``sampled``
(``loss.sampled_negatives`` shared negatives, only the items the step touches embedded; recmodel.training.sampling).

Catalogues: ml100k-mm as it is (1,682 items), and larger ones synthesised from it. Every synthetic item copies
the raw encoder features (text and image vectors, presence flags) of a random real item plus Gaussian noise of
0.3 times each dimension's standard deviation over the real items (text vectors re-normalised). The training
events stay the same users, times and count, but each event on a real item moves to that item or one of its
synthetic copies, uniformly, so the synthetic items are trained items with the popularity of their origin
spread over its copies. An epoch therefore has the same number of steps at every size (ml100k-mm's windows /
batch 128); what grows is the catalogue each step ranks against.

Measured: the training step only (forward, backward, AdamW step) — no validation, no data loading beyond the
batch. Each (size, softmax) runs one warm-up step, then ``--steps`` timed steps on the first batches of an
epoch; per-step time is their median (the machine is shared) and the per-epoch time is per-step x steps per
epoch (extrapolated, not an epoch run). Where a full-softmax step at batch 128 would need more memory than
``--max-logit-gb`` for its (P, N) score matrices (100k items: tens of GB), its step time is extrapolated
linearly in the catalogue size from the full-softmax sizes measured (least squares over them; a full step embeds
and scores every item, so its cost is a + b N at a fixed batch; ``extrapolated_*`` = 1).
Wall time on a shared machine: the load average and this process's CPU/wall ratio are recorded; run it under
``nice -n 10``.
Writes reports/bench/training.json and training.png beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from recmodel.data.batches import training_batch
from recmodel.data.splits import Sequence, Split, training_windows
from recmodel.model.catalogue import Catalogue
from recmodel.settings import REPO_ROOT, RankerPaths
from recmodel.training.config import ExperimentConfig, load_experiment
from recmodel.training.experiment import prepare_data
from recmodel.training.loop import build_model, seed_everything
from recmodel.training.objectives import TrainingObjective

SIZES = (1682, 5_000, 10_000, 100_000)
NOISE = 0.3  # synthetic features: noise std as a fraction of each dimension's std over the real items
BYTES_PER_LOGIT = 4 * 12  # float32 x the (P, N) matrices a full-softmax step keeps (per modality, sum, grads, ...)


def synthesise(split: Split, catalogue: Catalogue, size: int, seed: int = 0) -> tuple[Split, Catalogue]:
    """``split`` and ``catalogue`` grown to ``size`` items (real items first) as the module docstring says."""
    n = split.num_items
    if size <= n:
        return split, catalogue
    rng = np.random.default_rng(seed)
    origin = rng.integers(n, size=size - n)  # the real item each synthetic one is made from
    text = _perturbed(catalogue.text, origin, rng, normalise=True)
    image = _perturbed(catalogue.image, origin, rng, normalise=False)
    copies: list[list[int]] = [[i] for i in range(n)]
    for j, r in enumerate(origin):
        copies[r].append(n + j)
    choices = [np.array(c) for c in copies]

    def remap(items: np.ndarray) -> np.ndarray:
        return np.array([c[rng.integers(len(c))] for c in (choices[i] for i in items)], dtype=np.int64)

    train = [dataclasses.replace(s, items=remap(s.items)) for s in split.train]
    ids = split.item_ids + [f"synthetic-{j}" for j in range(size - n)]
    train_items = np.zeros(size, dtype=bool)
    for s in train:
        train_items[s.items] = True
    grown = dataclasses.replace(
        split,
        item_ids=ids,
        train=train,
        cold_items=np.concatenate([split.cold_items, split.cold_items[origin]]),
        train_items=train_items,
    )
    big = Catalogue(
        ids,
        np.concatenate([catalogue.text, text]),
        np.concatenate([catalogue.image, image]),
        np.concatenate([catalogue.has_text, catalogue.has_text[origin]]),
        np.concatenate([catalogue.has_image, catalogue.has_image[origin]]),
    )
    return grown, big.with_train_counts(grown.train_counts())


def _perturbed(features: np.ndarray, origin: np.ndarray, rng: np.random.Generator, normalise: bool) -> np.ndarray:
    std = features.std(0, keepdims=True)
    out = features[origin] + NOISE * std * rng.standard_normal((len(origin), features.shape[1])).astype(np.float32)
    if normalise:
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)


def time_steps(
    cfg: ExperimentConfig, split: Split, catalogue: Catalogue, windows: list[Sequence], batch: int, steps: int
) -> dict[str, float]:
    """Median seconds of ``steps`` training steps at ``batch`` windows (after one warm-up step)."""
    seed_everything(cfg.train.seed)
    model = build_model(cfg, split, catalogue)
    objective = TrainingObjective(model, cfg.loss).train()
    optimizer = torch.optim.AdamW(objective.parameters(), lr=cfg.train.lr)
    table = catalogue.inputs()
    allowed = torch.from_numpy(split.train_items)
    counts = split.train_counts().astype(np.float64)
    proposal = torch.from_numpy(counts / counts.sum()).float()
    seconds, positions = [], []
    for step in range(steps + 1):
        rows = windows[step * batch : (step + 1) * batch]
        b = training_batch(rows)
        start = time.perf_counter()
        out = objective(b, table, allowed, proposal)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()
        if step:  # the first step warms up allocators and caches
            seconds.append(time.perf_counter() - start)
            positions.append(int(b.seq.mask.sum()))
    return {"step_seconds": float(np.median(seconds)), "positions": float(np.mean(positions))}


def epoch_windows(cfg: ExperimentConfig, split: Split) -> list[Sequence]:
    """The training windows in epoch 1's order (as recmodel.training.loop shuffles them)."""
    windows = training_windows(split.train, cfg.data.max_len)
    order = np.random.default_rng(cfg.train.seed * 100_003 + 1).permutation(len(windows))
    return [windows[i] for i in order]


def fits(cfg: ExperimentConfig, split: Split, steps: int, max_logit_gb: float) -> bool:
    """Whether a full-softmax step's (P, N) score matrices stay under ``max_logit_gb``."""
    batch = cfg.train.batch_size
    positions = sum(len(w.items) - 1 for w in epoch_windows(cfg, split)[: batch * (steps + 1)]) / (steps + 1)
    return positions * split.num_items * BYTES_PER_LOGIT <= max_logit_gb * 2**30


def extrapolate(points: dict[int, float], size: int) -> float:
    """Least-squares a + b N through measured (N, seconds) ``points``, evaluated at ``size``."""
    sizes, seconds = np.array(list(points), dtype=float), np.array(list(points.values()))
    b, a = np.polyfit(sizes, seconds, 1)
    return float(a + b * size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "recmodel/configs/full.yaml")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement (after one warm-up)")
    parser.add_argument("--max-logit-gb", type=float, default=4.0, help="full steps bigger are extrapolated")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports/bench/training.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = RankerPaths()
    base = load_experiment(args.config)
    split, catalogue = prepare_data(base, paths.data_dir, paths.feature_cache_dir, progress=False)
    steps_per_epoch = max(1, len(training_windows(split.train, base.data.max_len)) // base.train.batch_size)
    report: dict[str, object] = {
        "config": str(args.config.relative_to(REPO_ROOT)),
        "batch_size": base.train.batch_size,
        "sampled_negatives": base.loss.sampled_negatives,
        "full_softmax_max_items": base.loss.full_softmax_max_items,
        "steps_per_epoch": steps_per_epoch,
        "timed_steps": args.steps,
        "torch_threads": 1,
        "nice": os.nice(0),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average_start": os.getloadavg()[0],
        "note": "training steps only (no validation); per-epoch = per-step x steps_per_epoch, not an epoch run; "
        "extrapolated_* = 1: a full step too big for memory, extrapolated linearly in catalogue size from the "
        "measured full-softmax sizes; synthetic items: real items' raw features + noise, events spread over copies",
    }
    wall0, cpu0 = time.perf_counter(), time.process_time()
    measured_full: dict[int, float] = {}
    for size in sorted(args.sizes):
        grown, big = synthesise(split, catalogue, size)
        n = len(big)
        for softmax in ("full", "sampled"):
            cfg = base.model_copy(update={"loss": base.loss.model_copy(update={"softmax": softmax})})
            extrapolated = softmax == "full" and not fits(cfg, grown, args.steps, args.max_logit_gb)
            if extrapolated:
                if len(measured_full) < 2:
                    raise SystemExit(f"{n} items: too big for a full step and fewer than two smaller sizes measured")
                seconds = extrapolate(measured_full, n)
            else:
                m = time_steps(cfg, grown, big, epoch_windows(cfg, grown), cfg.train.batch_size, args.steps)
                seconds = m["step_seconds"]
                report[f"positions_per_step_{n}"] = round(m["positions"], 1)
                if softmax == "full":
                    measured_full[n] = seconds
            report[f"step_seconds_{softmax}_{n}"] = round(seconds, 4)
            report[f"epoch_seconds_{softmax}_{n}"] = round(seconds * steps_per_epoch, 2)
            report[f"extrapolated_{softmax}_{n}"] = int(extrapolated)
            report["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
            extra = " (extrapolated)" if extrapolated else ""
            print(f"{n:>7} items {softmax:>7}: {seconds:.3f} s/step, {seconds * steps_per_epoch:.1f} s/epoch{extra}",
                  flush=True)  # fmt: skip
    wall = time.perf_counter() - wall0
    report["load_average_end"] = os.getloadavg()[0]
    report["cpu_per_wall"] = round((time.process_time() - cpu0) / wall, 3)
    report["bench_seconds"] = round(wall, 1)
    report["sizes"] = sorted(max(s, split.num_items) for s in args.sizes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    _plot(report, args.out.with_suffix(".png"))
    print(f"wrote {args.out}")


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = report["sizes"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for softmax, marker in (("full", "o"), ("sampled", "s")):
        ys = [report[f"epoch_seconds_{softmax}_{n}"] for n in sizes]
        ax.plot(sizes, ys, marker=marker, label=f"{softmax} softmax")
        for n, y in zip(sizes, ys, strict=True):
            if report[f"extrapolated_{softmax}_{n}"]:
                ax.annotate("extrapolated", (n, y), textcoords="offset points", xytext=(-30, 6), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("catalogue items")
    ax.set_ylabel("seconds per epoch (training steps, 1 thread)")
    ax.set_title(f"full.yaml, batch {report['batch_size']}, {report['steps_per_epoch']} steps/epoch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
