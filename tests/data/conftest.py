"""A tiny synthetic dataset in the contract (docs/data-contract.md): CSV or Parquet, s or ms, optional texts and
PNG images, configurable column names; and the real in-process encoders for the feature tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

N_USERS, N_ITEMS = 24, 20
KINDS = ["a mystery novel", "a cookbook", "a travel guide", "a science fiction saga", "a children's picture book"]


def write_contract_dataset(
    folder: Path,
    *,
    fmt: str = "csv",
    time_unit: str = "ms",
    texts: bool = True,
    images: bool = True,
    seed: int = 0,
    columns: dict[str, str] | None = None,
) -> tuple[Path, Path]:
    """``events.<fmt>`` and ``items.<fmt>`` (+ ``images/*.png``) under ``folder``; returns (events, items).

    ``columns`` renames the standard columns (events and items alike, e.g. ``{"item_id": "sku"}``); the same
    ``seed`` always gives the same files.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rename = columns or {}
    rows = []
    for u in range(N_USERS):
        t = 1_600_000_000 + int(rng.integers(0, 1_000_000))
        for item in rng.choice(N_ITEMS, size=int(rng.integers(6, 12)), replace=False):
            t += int(rng.choice([0, 60, 3_600, 86_400]))
            rows.append((f"user{u}", f"sku{item}", t if time_unit == "s" else t * 1000, "books", "view"))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "domain", "event_type"])
    items = pd.DataFrame({"item_id": [f"sku{i}" for i in range(N_ITEMS)]})
    if texts:
        items["title"] = [f"Item {i}: {KINDS[i % len(KINDS)]}" for i in range(N_ITEMS)]
        items["description"] = [
            "" if i % 6 == 0 else f"{KINDS[(i + seed) % len(KINDS)].capitalize()} with {i + 2} chapters."
            for i in range(N_ITEMS)
        ]
    if images:
        (folder / "images").mkdir(exist_ok=True)
        paths = []
        for i in range(N_ITEMS):
            if i % 7 == 3:
                paths.append("")
                continue
            colour = rng.integers(0, 256, 3, dtype=np.uint8)
            pixels = np.tile(colour, (32 + i, 24, 1)).astype(np.uint8)
            pixels[:: 2 + i % 3] = 255 - colour
            Image.fromarray(pixels).save(folder / "images" / f"{i}.png")
            paths.append(f"images/{i}.png")
        items["image"] = paths
    events, items = events.rename(columns=rename), items.rename(columns=rename)
    out = folder / f"events.{fmt}", folder / f"items.{fmt}"
    for frame, path in zip((events, items), out, strict=True):
        frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path, index=False)
    return out


@pytest.fixture(scope="session")
def encoders_ready() -> None:
    """The ONNX encoders exported once (cached under build/ by content hash, shared with tests/encoders)."""
    from encoders.artifacts import ensure_onnx_artifacts
    from encoders.settings import EncoderSettings

    s = EncoderSettings()
    ensure_onnx_artifacts(s.build_dir / "onnx-cache", s.onnx_opset, s.image_size)
