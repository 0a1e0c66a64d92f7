"""``python -m encoders.triton generate|serve``: write a model repository, or run Triton locally."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from encoders.artifacts import ensure_onnx_artifacts
from encoders.names import IMAGE_ONNX, TEXT_ONNX
from encoders.settings import EncoderSettings
from encoders.tensorrt.paths import IMAGE_PLAN, TEXT_PLAN
from encoders.triton.launcher import LocalTriton
from encoders.triton.model_configs import IMAGE_ENCODER, TEXT_ENCODER
from encoders.triton.repository import generate_repository
from encoders.triton.settings import Flavor, LauncherSettings, RepositorySettings


def _model_files(flavor: Flavor, onnx_dir: Path | None, plans_dir: Path | None) -> dict[str, Path]:
    if flavor is Flavor.TENSORRT:
        if plans_dir is None:
            return {}
        files = {TEXT_ENCODER: plans_dir / TEXT_PLAN, IMAGE_ENCODER: plans_dir / IMAGE_PLAN}
    elif onnx_dir is not None:
        files = {TEXT_ENCODER: onnx_dir / TEXT_ONNX, IMAGE_ENCODER: onnx_dir / IMAGE_ONNX}
    else:
        s = EncoderSettings()
        artifacts = ensure_onnx_artifacts(s.build_dir / "onnx-cache", s.onnx_opset, s.image_size)
        files = {TEXT_ENCODER: artifacts.text, IMAGE_ENCODER: artifacts.image}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise SystemExit(f"model file(s) not found: {', '.join(missing)}")
    return files


def _generate(args: argparse.Namespace) -> None:
    flavor = Flavor(args.flavor)
    settings = RepositorySettings()
    if args.no_dynamic_batching:
        settings = settings.model_copy(update={"dynamic_batching": False})
    files = _model_files(flavor, args.onnx_dir, args.plans_dir)
    written = generate_repository(flavor, args.out, settings, files)
    print(f"{flavor.value} repository with {len(written)} models -> {args.out}")
    if flavor is Flavor.TENSORRT and not files:
        print(f"place {TEXT_PLAN} / {IMAGE_PLAN} as <model>/1/model.plan (python -m encoders.tensorrt build)")


def _serve(args: argparse.Namespace) -> None:
    settings = LauncherSettings()
    if args.workspace is not None:
        settings = settings.model_copy(update={"workspace": args.workspace})
    for name in ("http_port", "grpc_port", "metrics_port"):
        if getattr(args, name) is not None:
            settings = settings.model_copy(update={name: getattr(args, name)})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with LocalTriton(settings) as triton:
        print(f"Triton ready: grpc {triton.grpc_url}  http {triton.http_url}  metrics {triton.metrics_url}")
        print(f"log: {triton.log_path}   (Ctrl-C to stop)", flush=True)
        while not stop.wait(1.0):
            if not triton.running:
                raise SystemExit(f"tritonserver exited; see {triton.log_path}")
    print("Triton stopped")


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m encoders.triton", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write a Triton model repository")
    gen.add_argument("--flavor", choices=[f.value for f in Flavor], required=True)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--onnx-dir", type=Path, help="folder from `python -m encoders.export` (default: cached export)")
    gen.add_argument("--plans-dir", type=Path, help="tensorrt: folder from `python -m encoders.tensorrt build`")
    gen.add_argument("--no-dynamic-batching", action="store_true")
    gen.set_defaults(func=_generate)
    serve = commands.add_parser("serve", help="run the bundled tritonserver with the python flavour")
    serve.add_argument("--workspace", type=Path, help="folder for repository and log (default: temporary)")
    serve.add_argument("--http-port", type=int, dest="http_port")
    serve.add_argument("--grpc-port", type=int, dest="grpc_port")
    serve.add_argument("--metrics-port", type=int, dest="metrics_port")
    serve.set_defaults(func=_serve)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.func(args)


if __name__ == "__main__":
    main()
