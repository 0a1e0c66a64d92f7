"""``python -m encoders.tensorrt build``: TensorRT plans for the text and image encoders.

Runs where ``tensorrt`` is importable (NVIDIA TensorRT/Triton container, e.g. as a Kubernetes Job on a GPU node).
``--dry-run`` validates the inputs and prints the optimisation profiles without TensorRT.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from encoders.tensorrt.paths import MODELS, build_paths
from encoders.tensorrt.profiles import profile_for
from encoders.tensorrt.settings import TensorRTSettings

_OVERRIDES = ("min_batch", "opt_batch", "max_batch", "min_seq", "opt_seq", "max_seq", "workspace_gib")


def build_plan_summary(args: argparse.Namespace) -> tuple[TensorRTSettings, list[dict]]:
    """Settings after CLI overrides and, per model, the paths and profile to build (no TensorRT needed)."""
    updates = {name: getattr(args, name) for name in _OVERRIDES if getattr(args, name) is not None}
    if args.fp16 is not None:
        updates["fp16"] = args.fp16
    settings = TensorRTSettings(**{**TensorRTSettings().model_dump(), **updates})
    models = MODELS if args.model == "all" else (args.model,)
    plans = []
    for model in models:
        paths = build_paths(model, args.onnx_dir, args.out, args.timing_cache or settings.timing_cache)
        plans.append({"paths": paths, "profile": profile_for(model, settings)})
    return settings, plans


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m encoders.tensorrt", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build TensorRT plans from ONNX files")
    build.add_argument("--onnx-dir", type=Path, required=True, help="output of python -m encoders.export")
    build.add_argument("--out", type=Path, required=True, help="folder for *.plan and the timing cache")
    build.add_argument("--model", choices=[*MODELS, "all"], default="all")
    build.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=None)
    build.add_argument("--timing-cache", type=Path)
    for name in _OVERRIDES:
        build.add_argument(f"--{name.replace('_', '-')}", type=float if name == "workspace_gib" else int)
    build.add_argument("--dry-run", action="store_true", help="validate and print the profiles only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings, plans = build_plan_summary(args)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    summary = [
        {
            "model": p["paths"].model,
            "onnx": str(p["paths"].onnx),
            "plan": str(p["paths"].plan),
            "timing_cache": str(p["paths"].timing_cache),
            "fp16": settings.fp16,
            "profile": [asdict(spec) for spec in p["profile"]],
        }
        for p in plans
    ]
    print(json.dumps(summary, indent=2))
    if args.dry_run:
        return
    from encoders.tensorrt.builder import TensorRTUnavailableError, build_engine

    try:
        for p in plans:
            print(f"built {build_engine(p['paths'], p['profile'], settings)}")
    except TensorRTUnavailableError as exc:
        raise SystemExit(str(exc)) from exc


if __name__ == "__main__":
    main()
