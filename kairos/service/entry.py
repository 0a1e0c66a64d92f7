"""Process entry shared by every service: settings, then logging, then serve; exit codes operators can script."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pydantic import ValidationError

from kairos.service.logs import configure_logging
from kairos.service.settings import ServiceSettings

EXIT_BAD_SETTINGS = 2
EXIT_START_FAILED = 3

S = TypeVar("S", bound=ServiceSettings)


def run_service(
    name: str,
    load: Callable[[], S],
    serve: Callable[[S], Coroutine[Any, Any, None]],
    start_errors: tuple[type[BaseException], ...],
) -> int:
    """Load settings (bad ones: message on stderr, exit 2), configure logs, serve until signalled (exit 0).

    An error of `start_errors` escaping `serve` (a store or dependency down, a busy port) is logged and exits 3.
    """
    try:
        settings = load()
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        print(f"{name}: invalid settings: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure_logging(name, settings.log_level, settings.log_format)
    try:
        asyncio.run(serve(settings))
    except start_errors as exc:
        logging.getLogger(name).error("start-up failed", extra={"error": str(exc)})
        return EXIT_START_FAILED
    return 0
