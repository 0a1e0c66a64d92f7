"""The training loop: seeded, progress bar, DDP-aware (torchrun, gloo), early stopping on validation NDCG@20."""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from recmodel.data.batches import training_batch
from recmodel.data.splits import Split, training_windows
from recmodel.metrics import ranking_metrics
from recmodel.model.catalogue import Catalogue
from recmodel.model.content_channel import ContentCodes
from recmodel.model.recommender import Recommender
from recmodel.training.config import ExperimentConfig, TrainConfig
from recmodel.training.objectives import TrainingObjective
from recmodel.training.optim import make_optimizer
from recmodel.training.scoring import case_ranks, score_cases

LOG = logging.getLogger(__name__)
SELECTION_METRIC = "ndcg@20"


@dataclass
class TrainResult:
    """A trained model (best validation epoch restored) and its per-epoch history."""

    model: Recommender
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: float = 0.0
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def distributed_context() -> tuple[int, int]:
    """(rank, world size); starts a gloo process group when launched by torchrun with several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def build_model(cfg: ExperimentConfig, split: Split, catalogue: Catalogue) -> Recommender:
    """A fresh model sized for the split, with feature standardisation fitted on training items."""
    model_cfg = cfg.model.model_copy(
        update={
            "num_items": split.num_items
            if "id" in cfg.model.modalities or cfg.model.item_residual
            else cfg.model.num_items,
            "num_domains": max(len(split.domain_names), 1),
            "max_len": cfg.data.max_len,
            "text_dim": catalogue.text.shape[1],
            "image_dim": catalogue.image.shape[1],
        }
    )
    model = Recommender(model_cfg)
    table = catalogue.inputs()
    train_items = torch.from_numpy(split.train_items)
    if "text" in model.projections:
        model.projections["text"].fit_statistics(table.text, table.has_text & train_items)
    if "image" in model.projections:
        model.projections["image"].fit_statistics(table.image, table.has_image & train_items)
    if model.id_embedding is not None and cfg.model.id_init == "content":
        with torch.no_grad():
            model.id_embedding.weight.copy_(content_id_init(catalogue, split.train_items, model_cfg.dim))
    return model


def content_id_init(catalogue: Catalogue, trained: np.ndarray, dim: int, std: float = 0.02) -> torch.Tensor:
    """(N, dim) ID-table start from content: each item's coordinates on the first ``dim`` principal axes of the
    trained items' raw text+image vectors (:class:`ContentCodes`, not normalised), scaled to ``std``."""
    c = catalogue
    codes = ContentCodes.fit(c.text, c.image, c.has_text, c.has_image, trained, dim)
    projected = codes.project(c.text, c.image, c.has_text, c.has_image)
    if projected.shape[1] < dim:
        projected = np.pad(projected, ((0, 0), (0, dim - projected.shape[1])))
    scale = projected[trained].std() or 1.0
    return torch.from_numpy((projected * (std / scale)).astype(np.float32))


def validate(model: Recommender, split: Split, catalogue: Catalogue, masked: bool = False) -> dict[str, float]:
    """Metrics on validation cases whose target is a training item (history unmasked unless ``masked``)."""
    cases = split.valid.subset(split.train_items[split.valid.targets])
    return ranking_metrics(case_ranks(score_cases(model, catalogue, cases), cases, mask_history=masked))


def train(
    cfg: ExperimentConfig,
    split: Split,
    catalogue: Catalogue,
    checkpoint_dir: Path | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train one model; every process of a torchrun job calls this and ends with the same best weights."""
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    rank, world = distributed_context()
    seed_everything(tc.seed)
    model = build_model(cfg, split, catalogue)
    objective = TrainingObjective(model, cfg.loss)
    step_module: torch.nn.Module = objective
    if world > 1:
        step_module = DistributedDataParallel(objective, find_unused_parameters=True)
    table = catalogue.inputs()
    allowed = torch.from_numpy(split.train_items)
    tables = None  # per-item tables whose Adam steps are corrected for sampling (recmodel/training/optim.py)
    if cfg.loss.resolved_softmax(len(allowed)) == "sampled" and cfg.loss.sampled_row_adam:
        tables = [m.weight for m in (model.residual, model.id_embedding) if isinstance(m, torch.nn.Embedding)]
    optimizer = make_optimizer(objective, tc.lr, tc.weight_decay, tables, lambda: objective.present_rows)
    counts = split.train_counts().astype(np.float64)
    proposal = torch.from_numpy(counts / counts.sum()).float()
    if rank == 0:
        LOG.info("%s: %s softmax over %d items", cfg.name, cfg.loss.resolved_softmax(len(allowed)), len(allowed))
    windows = training_windows(split.train, cfg.data.max_len)
    if not windows:
        raise ValueError("data: no training sequence has two or more events")
    steps = max(1, len(windows) // (tc.batch_size * world))
    scheduler = learning_rate_schedule(optimizer, tc, steps)
    averaged = _averaged(model, tc.ema_decay)
    selected = averaged.module if averaged is not None else model  # the weights validated, kept and shipped
    result = TrainResult(model=model)
    best_state = copy.deepcopy(selected.state_dict())
    stale, start = 0, time.perf_counter()
    torch.manual_seed(tc.seed * 1000 + rank)  # per-rank stream for dropout and corruption noise
    for epoch in range(1, tc.epochs + 1):
        objective.train()
        order = np.random.default_rng(tc.seed * 100_003 + epoch).permutation(len(windows))
        mine = order[rank::world]
        sums: dict[str, float] = {}
        contrib = torch.zeros(len(model.modalities))
        show = tc.progress and rank == 0
        for step in tqdm(range(steps), desc=f"{cfg.name} epoch {epoch}", disable=not show, leave=False):
            rows = mine[step * tc.batch_size : (step + 1) * tc.batch_size]
            if len(rows) == 0:
                rows = mine[: tc.batch_size]
            out = step_module(training_batch([windows[i] for i in rows]), table, allowed, proposal)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            optimizer.step()
            scheduler.step()
            if averaged is not None:
                averaged.update_parameters(model)
            for key, value in out.items():
                if key != "contrib":
                    sums[key] = sums.get(key, 0.0) + float(value.detach())
            contrib += out["contrib"]
        record = {"epoch": float(epoch), **{f"loss/{k}": v / steps for k, v in sums.items()}}
        for name, value in zip(model.modalities, (contrib / steps).tolist(), strict=True):
            record[f"contribution/{name}"] = value
        if epoch % tc.eval_every == 0 or epoch == tc.epochs:
            record.update({f"valid/{k}": v for k, v in validate(selected, split, catalogue, tc.select_masked).items()})
            score = record[f"valid/{SELECTION_METRIC}"]
            if score > result.best_valid or result.best_epoch == 0:
                result.best_valid, result.best_epoch = score, epoch
                best_state = copy.deepcopy(selected.state_dict())
                stale = 0
            else:
                stale += 1
        record["seconds"] = time.perf_counter() - start
        result.history.append(record)
        if rank == 0:
            LOG.info("%s seed %d epoch %d %s", cfg.name, tc.seed, epoch, _summary(record))
            if checkpoint_dir is not None:
                _checkpoint(checkpoint_dir, epoch, model, optimizer, result)
        if on_epoch is not None and rank == 0:
            on_epoch(record)
        if stale >= tc.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result


def learning_rate_schedule(optimizer: torch.optim.Optimizer, tc: TrainConfig, steps_per_epoch: int) -> LambdaLR:
    """Per-step learning-rate multiplier: 1 (constant), or linear warm-up then cosine decay to 0 at the end."""
    total = max(1, tc.epochs * steps_per_epoch)
    warmup = int(tc.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if tc.lr_schedule == "constant":
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def _averaged(model: Recommender, decay: float) -> AveragedModel | None:
    """An exponential moving average of ``model``'s weights (buffers copied along), or None when ``decay`` is 0."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _summary(record: dict[str, float]) -> str:
    keys = ("loss/loss", "valid/ndcg@20", "valid/hr@10")
    parts = [f"{k}={record[k]:.4f}" for k in keys if k in record]
    parts += [f"{k}={v:.3f}" for k, v in record.items() if k.startswith("contribution/")]
    return " ".join(parts)


def _checkpoint(folder: Path, epoch: int, model: Recommender, optimizer, result: TrainResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "last.pt.tmp"
    torch.save(
        {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": result.history},
        tmp,
    )
    tmp.replace(folder / "last.pt")
