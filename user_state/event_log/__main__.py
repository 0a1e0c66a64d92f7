"""Event-log tools.

python -m user_state.event_log compact --redis-url redis://host:6379/0 --out DIR [--once]
python -m user_state.event_log cat DIR [--since MS]        # JSON lines, each event once, in log order
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from kairos.service.logs import configure_logging
from user_state.event_log.compactor import DEFAULT_GROUP, Compactor
from user_state.event_log.segments import iter_events


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m user_state.event_log", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compact", help="consume the Redis stream into Parquet segment files")
    c.add_argument("--redis-url", required=True)
    c.add_argument("--out", type=Path, required=True, help="directory of the segment files")
    c.add_argument("--stream", default="kairos:event-log", help="stream key (event_log.redis_stream)")
    c.add_argument("--group", default=DEFAULT_GROUP, help="consumer group")
    c.add_argument("--consumer", default="compactor", help="consumer name (one compactor per group)")
    c.add_argument("--segment-max-events", type=int, default=100_000)
    c.add_argument("--segment-max-age-s", type=float, default=60.0)
    c.add_argument("--once", action="store_true", help="exit once the stream holds nothing new")
    c.add_argument(
        "--retention-days", type=float, default=None, help="delete output segments older than this (default: keep)"
    )
    c.add_argument(
        "--retention-max-bytes", type=int, default=None, help="delete the oldest output segments beyond this total"
    )
    c.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    r = sub.add_parser("cat", help="print the events of a segment directory as JSON lines")
    r.add_argument("dir", type=Path)
    r.add_argument("--since", type=int, help="only events logged at or after this time (ms since epoch)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "cat":
        for e in iter_events(args.dir, args.since):
            print(
                json.dumps(
                    {
                        "event_id": e.event_id,
                        "user_id": e.user_id,
                        "item_id": e.item_id,
                        "timestamp_ms": e.timestamp_ms,
                        "domain": e.domain,
                        "event_type": e.event_type,
                    }
                )
            )
        return 0
    configure_logging("event_log_compactor", args.log_level, "json")
    compactor = Compactor(
        args.redis_url,
        args.out,
        stream=args.stream,
        group=args.group,
        consumer=args.consumer,
        segment_max_events=args.segment_max_events,
        segment_max_age_s=args.segment_max_age_s,
        retention_days=args.retention_days,
        retention_max_bytes=args.retention_max_bytes,
    )

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        written = compactor.run(once=args.once)
    except KeyboardInterrupt:
        compactor.flush()  # buffered entries become a segment and are acknowledged
        written = compactor.written
    finally:
        compactor.close()
    logging.getLogger("event_log_compactor").info("compactor stopped", extra={"events_written": written})
    return 0


if __name__ == "__main__":
    sys.exit(main())
