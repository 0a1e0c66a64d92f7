"""Structured (JSON) logging for services.

Convention: a log message is a constant event name and every variable goes in `extra`
(``log.info("item upserted", extra={"item_id": item_id})``), never into the message by f-string or %-format.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

# Attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class TextFormatter(logging.Formatter):
    """Plain-text lines that keep the structured fields: `<time> <level> <service> <logger>: <event> key=value ...`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}
        if not fields:
            return line
        head, newline, trace = line.partition("\n")  # a traceback stays below the fields
        rendered = " ".join(
            f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}" for key, value in fields.items()
        )
        return f"{head} {rendered}{newline}{trace}"


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Send every log record to stderr, one JSON object per line (or plain text with fmt='text')."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(TextFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
