"""Encoder benchmark: PyTorch eager vs ONNX Runtime in-process vs Triton over gRPC; Triton dynamic batching.

    .venv/bin/python -m bench.encoders_bench [--seconds 1.5] [--clients 16] [--concurrency-seconds 2]
        [--rounds 5] [--out FILE]

Every path goes from raw input (item text / poster JPEG bytes) to vectors, pre-processing included, so the
three are comparable: PyTorch eager (tokenise/decode + torch.no_grad forward), ONNX Runtime in-process
(``InProcessEncoders``) and Triton (python-flavour ensembles on the bundled tritonserver, called through
``EncoderClient`` with its cache off). Items/s and p50/p99 per call at batch 1, 8, 32 are measured in the same
process, one call at a time. Then ``--clients`` concurrent single-item clients hammer two servers, dynamic
batching on and off, in alternating rounds; the medians of the item throughputs are compared.
Writes reports/bench/encoders.json and a bar chart beside it (encoders.png).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from encoders.client import EncoderClientSettings, create_encoder_client
from encoders.image_model import load_image_model
from encoders.image_preprocessing import ImagePreprocessor
from encoders.inprocess import InProcessEncoders
from encoders.item_text import build_item_text
from encoders.settings import REPO_ROOT, EncoderSettings
from encoders.text_model import load_text_model
from encoders.tokenization import TextTokenizer
from encoders.triton.launcher import LocalTriton
from encoders.triton.settings import LauncherSettings, RepositorySettings

BATCHES = (1, 8, 32)
MODALITIES = ("text", "image")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(q / 100 * len(ordered))) - 1))]


def load_inputs(settings: EncoderSettings, count: int) -> dict[str, list]:
    """Real item texts (title, genres, plot) and poster bytes from the dataset."""
    items = pd.read_csv(settings.data_dir / "items.csv", dtype=str, keep_default_na=False).head(count * 2)
    texts = [build_item_text(row, settings.text_fields) for row in items.to_dict("records")][:count]
    images = [(settings.data_dir / p).read_bytes() for p in items["image"] if p][:count]
    return {"text": texts, "image": images}


def time_paths(
    callers: dict[str, Callable[[list], object]], items: list, batch: int, seconds: float
) -> dict[str, dict[str, float]]:
    """Interleave the paths call by call on the same batches for ~``seconds`` per path (after a warm-up), so
    load changes on the machine hit every path alike; latency per call in ms."""
    batches = [items[i : i + batch] for i in range(0, len(items) - batch + 1, batch)]
    for call in callers.values():
        call(batches[0])  # warm-up
    latencies: dict[str, list[float]] = {name: [] for name in callers}
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < seconds * len(callers) or rounds < 3:
        for name, call in callers.items():
            t0 = time.perf_counter()
            call(batches[rounds % len(batches)])
            latencies[name].append((time.perf_counter() - t0) * 1000)
        rounds += 1
    return {
        name: {
            "items_per_s": batch * len(values) / (sum(values) / 1000),
            "p50_ms": statistics.median(values),
            "p99_ms": percentile(values, 99),
        }
        for name, values in latencies.items()
    }


def torch_callers(settings: EncoderSettings) -> dict[str, Callable[[list], np.ndarray]]:
    text_model, image_model = load_text_model(), load_image_model()
    tokenizer = TextTokenizer(settings.text_max_tokens)
    pre = ImagePreprocessor(settings.image_size, settings.max_image_bytes, settings.max_image_pixels)

    @torch.no_grad()
    def text(batch: list) -> np.ndarray:
        tokens = tokenizer(batch)
        return text_model(torch.from_numpy(tokens.input_ids), torch.from_numpy(tokens.attention_mask)).numpy()

    @torch.no_grad()
    def image(batch: list) -> np.ndarray:
        return image_model(torch.from_numpy(pre(batch).pixels)).numpy()

    return {"text": text, "image": image}


def triton_callers(loop: asyncio.AbstractEventLoop, url: str) -> tuple[dict[str, Callable], Callable]:
    client = create_encoder_client(EncoderClientSettings(triton_url=url, cache_max_items=0, timeout_s=60))

    def run(coro: Awaitable) -> object:
        return loop.run_until_complete(coro)

    callers = {
        "text": lambda batch: run(client.embed_texts(batch)),
        "image": lambda batch: run(client.embed_images(batch)),
    }
    return callers, lambda: run(client.close())


async def concurrent_throughput(url: str, modality: str, items: list, clients: int, seconds: float) -> float:
    """Items/s with ``clients`` independent single-item clients calling back to back for ``seconds``."""
    settings = EncoderClientSettings(triton_url=url, cache_max_items=0, timeout_s=60)
    pool = [create_encoder_client(settings) for _ in range(clients)]
    done = 0

    async def worker(index: int, client) -> None:
        nonlocal done
        embed = client.embed_texts if modality == "text" else client.embed_images
        await embed([items[index % len(items)]])  # warm-up, not counted
        stop_at = time.perf_counter() + seconds
        i = index
        while time.perf_counter() < stop_at:
            result = await embed([items[i % len(items)]])
            assert result.errors == [None], result.errors
            done += 1
            i += clients

    started = time.perf_counter()
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(pool)))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(c.close() for c in pool))
    return done / elapsed


def run(args: argparse.Namespace) -> dict[str, float]:
    settings = EncoderSettings()
    inputs = load_inputs(settings, 256)
    results: dict[str, float] = {"cpu_count": float(os.cpu_count() or 0)}
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # grpc.aio channels bind to the loop current at creation
    inprocess = InProcessEncoders(settings)
    ort_callers = {"text": inprocess.embed_texts, "image": inprocess.embed_images}
    no_batching = RepositorySettings(dynamic_batching=False)
    with LocalTriton(LauncherSettings()) as triton, LocalTriton(LauncherSettings(), no_batching) as unbatched:
        callers = {"torch": torch_callers(settings), "ort": ort_callers}
        callers["triton"], close = triton_callers(loop, triton.grpc_url)
        jobs = [(m, b) for m in MODALITIES for b in BATCHES]
        for modality, batch in tqdm(jobs, desc="latency/throughput (torch, ort, triton interleaved)"):
            paths = {name: callers[name][modality] for name in ("torch", "ort", "triton")}
            for name, stats in time_paths(paths, inputs[modality], batch, args.seconds).items():
                for key, value in stats.items():
                    results[f"{modality}_{key}_batch{batch}_{name}"] = value
        close()
        servers = {"dynamic_batching": triton.grpc_url, "no_batching": unbatched.grpc_url}
        rounds: dict[str, list[float]] = {}
        jobs = [(r, m, mode) for r in range(args.rounds) for m in MODALITIES for mode in servers]
        for _, modality, mode in tqdm(jobs, desc=f"{args.clients} clients, batching on/off alternating"):
            throughput = loop.run_until_complete(
                concurrent_throughput(servers[mode], modality, inputs[modality], args.clients, args.concurrency_seconds)
            )
            rounds.setdefault(f"{modality}_items_per_s_{args.clients}_clients_{mode}", []).append(throughput)
        results.update({key: statistics.median(values) for key, values in rounds.items()})
    loop.close()
    for m in MODALITIES:
        results[f"{m}_triton_over_ort_latency_ratio_batch8"] = (
            results[f"{m}_p50_ms_batch8_triton"] / results[f"{m}_p50_ms_batch8_ort"]
        )
        results[f"{m}_dynamic_batching_speedup_{args.clients}_clients"] = (
            results[f"{m}_items_per_s_{args.clients}_clients_dynamic_batching"]
            / results[f"{m}_items_per_s_{args.clients}_clients_no_batching"]
        )
    return results


def report(results: dict[str, float], clients: int) -> None:
    for m in MODALITIES:
        print(f"\n{m}: items/s | p50 ms | p99 ms")
        for batch in BATCHES:
            cells = [
                f"{name:>6} {results[f'{m}_items_per_s_batch{batch}_{name}']:8.1f} "
                f"{results[f'{m}_p50_ms_batch{batch}_{name}']:7.1f} {results[f'{m}_p99_ms_batch{batch}_{name}']:7.1f}"
                for name in ("torch", "ort", "triton")
            ]
            print(f"  batch {batch:>2}: " + " | ".join(cells))
        print(
            f"  Triton/ORT p50 latency at batch 8: {results[f'{m}_triton_over_ort_latency_ratio_batch8']:.2f}x "
            f"(target <= 1.5x)"
        )
        print(
            f"  {clients} single-item clients: {results[f'{m}_items_per_s_{clients}_clients_dynamic_batching']:.1f}"
            f" items/s with dynamic batching vs {results[f'{m}_items_per_s_{clients}_clients_no_batching']:.1f}"
            f" without = {results[f'{m}_dynamic_batching_speedup_{clients}_clients']:.2f}x (target >= 2x)"
        )


def plot(results: dict[str, float], clients: int, path: Path) -> None:
    """Items/s per path and batch size (one panel per modality) plus the batching comparison, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    width = 0.27
    for ax, m in zip(axes[:2], MODALITIES, strict=True):
        for i, name in enumerate(("torch", "ort", "triton")):
            values = [results[f"{m}_items_per_s_batch{b}_{name}"] for b in BATCHES]
            ax.bar(np.arange(len(BATCHES)) + (i - 1) * width, values, width, label=name)
        ax.set_xticks(range(len(BATCHES)), [f"batch {b}" for b in BATCHES])
        ax.set_title(f"{m}: items/s (one call at a time)")
        ax.legend()
    modes = ("no_batching", "dynamic_batching")
    for i, mode in enumerate(modes):
        values = [results[f"{m}_items_per_s_{clients}_clients_{mode}"] for m in MODALITIES]
        axes[2].bar(np.arange(len(MODALITIES)) + (i - 0.5) * 0.4, values, 0.4, label=mode.replace("_", " "))
    axes[2].set_xticks(range(len(MODALITIES)), MODALITIES)
    axes[2].set_title(f"Triton, {clients} single-item clients: items/s")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="measuring time per (modality, batch, path)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--concurrency-seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5, help="alternating on/off rounds (median reported)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench" / "encoders.json")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    results = run(args)
    report(results, args.clients)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({k: round(v, 4) for k, v in sorted(results.items())}, indent=2) + "\n")
    plot(results, args.clients, args.out.with_suffix(".png"))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
