"""Command line: `python -m user_state serve --store embedded|redis [options]`."""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from kairos.service.entry import run_service
from kairos.service.errors import Unavailable
from user_state.settings import UserStateSettings


def parser() -> argparse.ArgumentParser:
    """Flags override the YAML file (--config) and KAIROS_USER_STATE_* environment variables."""
    p = argparse.ArgumentParser(prog="python -m user_state", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gRPC server until SIGTERM/SIGINT")
    serve.add_argument("--config", type=Path, help="YAML file of settings (keys as in user_state/README.md)")
    serve.add_argument("--store", choices=["embedded", "redis"])
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--metrics-port", type=int)
    serve.add_argument("--data-dir", type=Path)
    serve.add_argument("--sync", choices=["full", "normal", "off"])
    serve.add_argument("--max-events-per-user", type=int)
    serve.add_argument("--ttl-s", type=float)
    serve.add_argument("--redis-url")
    serve.add_argument("--redis-pool-size", type=int)
    serve.add_argument("--event-log-backend", choices=["auto", "none", "segments", "redis_stream"])
    serve.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.add_argument("--log-format", choices=["json", "text"])
    return p


def load_settings(args: argparse.Namespace) -> UserStateSettings:
    """Settings from defaults < --config file < environment < flags."""
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config", "event_log_backend")}
    if args.event_log_backend is not None:  # merged into the event_log section of the file / environment
        overrides["event_log"] = {"backend": args.event_log_backend}
    return UserStateSettings.load(args.config, **overrides)


async def serve(settings: UserStateSettings) -> None:
    """Open the store and serve until signalled; the store closes after the last call drained."""
    from user_state.app import build_server

    server, store = await build_server(settings)
    try:
        await server.serve_until_signalled()
    except BaseException:
        await store.close()
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m user_state` and the `kairos-user-state` console script."""
    args = parser().parse_args(argv)
    # grpc reports a busy port as RuntimeError
    start_errors = (Unavailable, OSError, sqlite3.Error, RuntimeError)
    return run_service("user_state", lambda: load_settings(args), serve, start_errors)
