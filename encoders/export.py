"""``python -m encoders.export --out build/encoders/onnx``: export both encoders to ONNX (dynamo exporter)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from encoders.artifacts import export_all
from encoders.settings import EncoderSettings


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    settings = EncoderSettings()
    parser = argparse.ArgumentParser(prog="python -m encoders.export", description=__doc__)
    parser.add_argument("--out", type=Path, default=settings.build_dir / "onnx")
    parser.add_argument("--opset", type=int, default=settings.onnx_opset)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    artifacts = export_all(args.out, args.opset, settings.image_size)
    print(f"text  -> {artifacts.text}\nimage -> {artifacts.image}\ncontent hash {artifacts.content_hash[:16]}")


if __name__ == "__main__":
    main()
