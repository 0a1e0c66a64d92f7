"""Train one model: ``python -m ranker.train --config ranker/configs/full.yaml --out artifacts/NAME``.

Multi-process: ``torchrun --nproc-per-node 2 -m ranker.train ...`` (DDP over gloo on CPU); rank 0 writes the
artifact folder (weights, config, item-id map, catalogue, metrics.json, training_curve.png, checkpoints/).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import torch.distributed as dist

from ranker.settings import RankerPaths
from ranker.training.config import load_experiment
from ranker.training.experiment import boost_and_test, prepare_data, write_artifact
from ranker.training.loop import distributed_context, train

LOG = logging.getLogger("ranker.train")


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    paths = RankerPaths()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="experiment YAML (ranker/configs/*.yaml)")
    parser.add_argument("--data", type=Path, default=paths.data_dir, help="ml100k-mm dataset folder")
    parser.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    parser.add_argument("--features", type=Path, default=paths.feature_cache_dir, help="feature cache root")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--users", type=int, default=None, help="train on the first N users only (smoke runs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    overrides: dict = {"train": {}, "data": {}}
    if args.seed is not None:
        overrides["train"]["seed"] = args.seed
    if args.epochs is not None:
        overrides["train"]["epochs"] = args.epochs
    if args.users is not None:
        overrides["data"]["user_limit"] = args.users
    cfg = load_experiment(args.config, overrides)
    rank, world = distributed_context()
    split, catalogue = prepare_data(cfg, args.data, args.features, progress=rank == 0)
    LOG.info(
        "rank %d/%d: %d users, %d items, %d cold",
        rank,
        world,
        len(split.user_ids),
        split.num_items,
        int(split.cold_items.sum()),
    )
    result = train(cfg, split, catalogue, checkpoint_dir=args.out / "checkpoints" if rank == 0 else None)
    if rank == 0:
        boost, boost_info, test = boost_and_test(result.model, cfg, split, catalogue)
        write_artifact(args.out, cfg, result, split, catalogue, test, boost, boost_info)
        LOG.info(
            "trained %s in %.1fs (best epoch %d): warm ndcg@10 %.4f, cold ndcg@10 %.4f (new-item boost %.2f) -> %s",
            cfg.name,
            result.seconds,
            result.best_epoch,
            test["warm"]["ndcg@10"],
            test["cold"]["ndcg@10"],
            boost_info["beta"],
            args.out,
        )
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
