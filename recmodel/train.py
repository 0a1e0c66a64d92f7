"""Train one model: ``python -m recmodel.train --config recmodel/configs/full.yaml --out artifacts/NAME``.

Any dataset in the contract of docs/data-contract.md: ``--data DIR`` (ml100k-mm layout, ``events`` + ``items``
files or a ``dataset.yaml``) or ``--events FILE --items FILE`` (CSV or Parquet; ``--time-unit``, ``--columns``).

Multi-process: ``torchrun --nproc-per-node 2 -m recmodel.train ...`` (DDP over gloo on CPU); rank 0 writes the
artifact folder (weights, config, item-id map, catalogue, metrics.json, training_curve.png, checkpoints/).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import torch.distributed as dist

from recmodel.data.source import add_data_arguments, dataset_from_args
from recmodel.settings import RankerPaths
from recmodel.training.config import load_experiment
from recmodel.training.experiment import boost_and_test, prepare_dataset, write_artifact
from recmodel.training.loop import distributed_context, train

LOG = logging.getLogger("recmodel.train")


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    paths = RankerPaths()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="experiment YAML (recmodel/configs/*.yaml)")
    parser.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    parser.add_argument("--features", type=Path, default=paths.feature_cache_dir, help="feature cache root")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--users", type=int, default=None, help="train on the first N users only (smoke runs)")
    add_data_arguments(parser, paths.data_dir)
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
    source = dataset_from_args(args, cfg.data.dataset)
    data = prepare_dataset(cfg, source, args.features, progress=rank == 0)
    split, catalogue = data.split, data.catalogue
    LOG.info(
        "rank %d/%d: %s (%s, key %s): %d users, %d items, %d cold",
        rank,
        world,
        source.name,
        source.format,
        data.key[:16],
        len(split.user_ids),
        split.num_items,
        int(split.cold_items.sum()),
    )
    result = train(cfg, split, catalogue, checkpoint_dir=args.out / "checkpoints" if rank == 0 else None)
    if rank == 0:
        boost, boost_info, test = boost_and_test(result.model, cfg, split, catalogue)
        write_artifact(args.out, cfg, result, split, catalogue, test, boost, boost_info, data)
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
