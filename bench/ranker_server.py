"""The ranker server with its index padded by synthetic item vectors, for the catalogue-size benchmark.

    .venv/bin/python -m bench.ranker_server --synthetic-items 100000 serve --artifact DIR --user-state ADDR ...

Synthetic vectors are real item vectors plus Gaussian noise (NOISE x the per-dimension spread): variations of
real items, clustered like a real catalogue (pure Gaussian vectors would have no cluster structure at all, which
no IVF index handles). The real items stay in the index (histories refer to them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import numpy as np

from kairos.service.logs import configure_logging
from ranker.index import ItemIndex
from ranker.service.app import become_ready, build_app
from ranker.service.cli import load_settings, parser
from ranker.service.state import ServingState

NOISE = 0.5


def synthetic_vectors(real: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` vectors, each a random real item vector plus noise of NOISE x the per-dimension spread."""
    rng = np.random.default_rng(seed)
    base = real[rng.integers(0, len(real), count)]
    noise = rng.standard_normal((count, real.shape[1]), dtype=np.float32) * (NOISE * real.std(axis=0))
    return (base + noise).astype(np.float32)


def synthetic_state(state: ServingState, count: int, seed: int = 0) -> ServingState:
    """``state`` with ``count`` synthetic items added to a freshly built index (ANN trained when large)."""
    ids = state.index.ids()
    real = state.index.vectors_of(ids)
    vectors = np.concatenate([real, synthetic_vectors(real, count, seed)])
    all_ids = ids + [f"synthetic-{j}" for j in range(count)]
    index = ItemIndex.build(all_ids, vectors, state.index.config, score_columns=state.model.score_columns)
    return ServingState(state.model, index, state.catalog)


async def serve(argv: list[str], count: int) -> None:
    settings = load_settings(parser().parse_args(argv))
    configure_logging("ranker", settings.log_level, settings.log_format)
    app = await build_app(settings)
    if count:
        app.holder.state = await app.worker.run(synthetic_state, app.holder.state, count)
        app.metrics.index_size.set(len(app.holder.state.index))
    ready = asyncio.create_task(become_ready(app, settings))
    await app.server.serve_until_signalled()
    ready.cancel()


def main() -> None:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--synthetic-items", type=int, default=0)
    args, rest = p.parse_known_args()
    asyncio.run(serve(rest, args.synthetic_items))


if __name__ == "__main__":
    sys.exit(main())
