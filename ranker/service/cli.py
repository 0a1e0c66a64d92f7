"""Command line: `python -m ranker serve --artifact DIR --user-state ADDR [--triton URL | --in-process] ...`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kairos.service.entry import run_service
from kairos.service.errors import Unavailable
from ranker.service.settings import RankerSettings


def parser() -> argparse.ArgumentParser:
    """Flags override the YAML file (--config) and KAIROS_RANKER_* environment variables. A flag of a nested setting
    has the dotted path as its dest (e.g. `user_state.address`)."""
    p = argparse.ArgumentParser(prog="python -m ranker", description="Kairos ranker service.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gRPC server until SIGTERM/SIGINT (SIGHUP: reload the artifact)")
    serve.add_argument("--config", type=Path, help="YAML file of settings (keys as in ranker/service/README.md)")
    serve.add_argument("--artifact", type=Path, help="model artifact directory (or a symlink to one)")
    serve.add_argument("--user-state", dest="user_state.address", help="host:port of the user-state service")
    encoders = serve.add_mutually_exclusive_group()
    encoders.add_argument("--triton", dest="encoders.triton_url", help="host:port of Triton serving the item encoders")
    encoders.add_argument("--in-process", action="store_true", help="run the item encoders in this process")
    serve.add_argument("--redis-url", help="Redis URL: fan item changes out to every replica")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--metrics-port", type=int)
    serve.add_argument("--data-dir", type=Path)
    serve.add_argument("--batch-window-ms", type=float)
    serve.add_argument("--max-batch-size", type=int)
    serve.add_argument("--artifact-poll-s", type=float)
    serve.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.add_argument("--log-format", choices=["json", "text"])
    return p


def load_settings(args: argparse.Namespace) -> RankerSettings:
    """Settings from defaults < --config file < environment < flags."""
    skip = ("command", "config", "in_process")
    overrides: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key in skip or value is None:
            continue
        *parents, name = key.split(".")
        level = overrides
        for parent in parents:
            level = level.setdefault(parent, {})
        level[name] = value
    settings = RankerSettings.load(args.config, **overrides)
    if args.in_process:
        encoders = settings.encoders.model_copy(update={"triton_url": None})
        settings = settings.model_copy(update={"encoders": encoders})
    return settings


async def _serve(settings: RankerSettings) -> None:
    from ranker.service.app import serve  # heavy (torch, faiss): imported once the settings are known to be good

    await serve(settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m ranker` and the `kairos-ranker` console script."""
    args = parser().parse_args(argv)
    return run_service("ranker", lambda: load_settings(args), _serve, (FileNotFoundError, ValueError, Unavailable))
