"""Offline feature extraction for a catalogue: ``python -m encoders.extract --items items.csv --out DIR``.

Embeds every item's text and poster with the in-process ONNX Runtime encoders, chunk by chunk. Finished chunks
are kept under ``DIR/parts`` so an interrupted run resumes where it stopped; the final matrices are written by
:func:`encoders.features.save_features`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from encoders.artifacts import content_hash
from encoders.features import META_FILE, ItemFeatures, features_complete, load_features, save_features
from encoders.inprocess import InProcessEncoders
from encoders.item_text import build_item_text
from encoders.names import IMAGE_DIM, TEXT_DIM
from encoders.settings import EncoderSettings

LOG = logging.getLogger(__name__)
PARTS_DIR = "parts"
STATE_FILE = "extract_state.json"
CHUNK_ITEMS = 128


def _read_items(items_csv: Path, text_fields: Sequence[str]) -> pd.DataFrame:
    items = pd.read_csv(items_csv, dtype=str, keep_default_na=False)
    missing = [c for c in ("item_id", *text_fields) if c not in items.columns]
    if missing:
        raise ValueError(f"{items_csv}: missing column(s) {', '.join(missing)}")
    if items["item_id"].duplicated().any():
        raise ValueError(f"{items_csv}: item_id has duplicates")
    return items


def _run_fingerprint(items_csv: Path, text_fields: Sequence[str], settings: EncoderSettings) -> str:
    digest = hashlib.sha256(Path(items_csv).read_bytes())
    digest.update(json.dumps([list(text_fields), content_hash(settings.onnx_opset)]).encode())
    return digest.hexdigest()


def _stored_fingerprint(out_dir: Path) -> str | None:
    state_path = out_dir / STATE_FILE
    return json.loads(state_path.read_text()).get("fingerprint") if state_path.exists() else None


def _prepare_out_dir(out_dir: Path, fingerprint: str) -> None:
    """Keep previous chunks only if they were made from the same items, fields and models."""
    state_path = out_dir / STATE_FILE
    if _stored_fingerprint(out_dir) != fingerprint:
        shutil.rmtree(out_dir / PARTS_DIR, ignore_errors=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / META_FILE).unlink(missing_ok=True)  # never pair old matrices with the new fingerprint
        state_path.write_text(json.dumps({"fingerprint": fingerprint}))
    (out_dir / PARTS_DIR).mkdir(exist_ok=True)


def _read_image(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        LOG.warning("image unreadable", extra={"path": str(path), "error": str(exc)})
        return None


def _embed_chunk(encoders: InProcessEncoders, rows: pd.DataFrame, base: Path, fields: Sequence[str], batch: int):
    n = len(rows)
    text = np.zeros((n, TEXT_DIM), dtype=np.float32)
    image = np.zeros((n, IMAGE_DIM), dtype=np.float32)
    has_text = np.zeros(n, dtype=bool)
    has_image = np.zeros(n, dtype=bool)
    texts = [build_item_text(row, fields) for row in rows.to_dict("records")]
    paths = [base / p if p.strip() else None for p in rows.get("image", pd.Series([""] * n)).tolist()]
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        idx = [i for i in range(start, stop) if texts[i]]
        if idx:
            result = encoders.embed_texts([texts[i] for i in idx])
            for j, i in enumerate(idx):
                has_text[i] = result.errors[j] is None
                text[i] = result.vectors[j]
        images: dict[int, bytes] = {}
        for i in range(start, stop):
            path = paths[i]
            data = _read_image(path) if path is not None else None
            if data is not None:
                images[i] = data
        idx = list(images)
        if idx:
            result = encoders.embed_images([images[i] for i in idx])
            for j, i in enumerate(idx):
                if result.errors[j] is not None:
                    LOG.warning(
                        "item not embedded", extra={"item_id": rows.iloc[i]["item_id"], "error": result.errors[j]}
                    )
                has_image[i] = result.errors[j] is None
                image[i] = result.vectors[j]
    return text, image, has_text, has_image


def extract_item_features(
    items_csv: Path,
    out_dir: Path,
    text_fields: Sequence[str] = ("title", "genres", "plot"),
    batch_size: int = 32,
    progress: bool = True,
) -> ItemFeatures:
    """Embed every item of ``items_csv`` (images resolved relative to its folder) and save under ``out_dir``.

    Returns the existing result when ``out_dir`` already holds a complete extraction of the same inputs;
    resumes from finished chunks after an interruption.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    items_csv, out_dir = Path(items_csv), Path(out_dir)
    settings = EncoderSettings()
    items = _read_items(items_csv, text_fields)
    fingerprint = _run_fingerprint(items_csv, text_fields, settings)
    if features_complete(out_dir) and _stored_fingerprint(out_dir) == fingerprint:
        return load_features(out_dir)
    _prepare_out_dir(out_dir, fingerprint)
    encoders = InProcessEncoders(settings)
    chunks = [items.iloc[i : i + CHUNK_ITEMS] for i in range(0, len(items), CHUNK_ITEMS)]
    parts: list[Path] = []
    with tqdm(total=len(items), desc="extract item features", unit="item", disable=not progress) as bar:
        for number, chunk in enumerate(chunks):
            part = out_dir / PARTS_DIR / f"part-{number:05d}.npz"
            parts.append(part)
            if not part.exists():
                arrays = _embed_chunk(encoders, chunk, items_csv.parent, text_fields, batch_size)
                tmp = part.with_suffix(".tmp.npz")
                np.savez(tmp, text=arrays[0], image=arrays[1], has_text=arrays[2], has_image=arrays[3])
                tmp.replace(part)
            bar.update(len(chunk))
    loaded = [np.load(p) for p in parts]
    features = ItemFeatures(
        item_ids=items["item_id"].tolist(),
        **{k: np.concatenate([part[k] for part in loaded]) for k in ("text", "image", "has_text", "has_image")},
    )
    save_features(features, out_dir)
    return features


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=Path, default=EncoderSettings().data_dir / "items.csv")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--text-fields", default=",".join(EncoderSettings().text_fields))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    fields = tuple(f.strip() for f in args.text_fields.split(",") if f.strip())
    features = extract_item_features(args.items, args.out, fields, args.batch_size, not args.no_progress)
    print(
        f"{len(features.item_ids)} items -> {args.out}: text for {int(features.has_text.sum())}, "
        f"image for {int(features.has_image.sum())}"
    )


if __name__ == "__main__":
    main()
