"""Run the locust scenario headless for a bounded time, summarise it and check it against the SLO file.

    python -m deploy.load.run --config deploy/load/slo.yaml --ranker HOST:PORT --user-state HOST:PORT \\
        --users 20 --spawn-rate 10 --run-time 30s [--expect-workers N]

Prints RPS, p50/p95/p99 and error rate per RPC and overall, writes reports/load/<timestamp>.json and exits
0 when every threshold holds, 1 on an SLO violation, 2 when the run itself failed. With --expect-workers N
this process is the master of a distributed run and waits for N `locust --worker` processes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from deploy.load.config import ConfigError, LoadConfig, load_config
from deploy.load.settings import LoadSettings
from deploy.load.slo_check import Violation, check_slo
from deploy.load.stats import OVERALL, RpcSummary, format_table, load_locust_json, summarise

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPORT_DIR = REPO_ROOT / "reports" / "load"
_RUN_TIME = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
EXIT_OK, EXIT_SLO_VIOLATED, EXIT_RUN_FAILED = 0, 1, 2


def parse_run_time(text: str) -> int:
    """Seconds in a locust run time such as '30s', '2m', '1h30m' or '45'."""
    if text.isdigit():
        seconds = int(text)
    else:
        match = _RUN_TIME.match(text)
        if match is None or not any(match.groups()):
            raise ValueError(f"--run-time: expected e.g. 30s, 2m or 1h30m, got {text!r}")
        hours, minutes, secs = (int(g or 0) for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise ValueError(f"--run-time: must be positive, got {text!r}")
    return seconds


def locust_command(args: argparse.Namespace, run_seconds: int, stats_prefix: Path) -> list[str]:
    """The headless locust command line for this run."""
    command = [
        sys.executable, "-m", "locust",
        "-f", str(args.locustfile),
        "--headless",
        "--users", str(args.users),
        "--spawn-rate", str(args.spawn_rate),
        "--run-time", f"{run_seconds}s",
        "--stop-timeout", str(args.stop_timeout),
        "--json-file", str(stats_prefix),
        "--csv", str(stats_prefix),
        "--only-summary",
        "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    if args.expect_workers:
        command += ["--master", "--expect-workers", str(args.expect_workers), "--expect-workers-max-wait", "300"]
    return command


def locust_environment(args: argparse.Namespace) -> dict[str, str]:
    """Environment of the locust process: KAIROS_LOAD_* settings read by the locustfile."""
    env = dict(os.environ)
    env["KAIROS_LOAD_CONFIG"] = str(Path(args.config).resolve())
    if args.ranker:
        env["KAIROS_LOAD_RANKER_ADDRESS"] = args.ranker
    if args.user_state:
        env["KAIROS_LOAD_USER_STATE_ADDRESS"] = args.user_state
    # deploy/ and kairos/ must import in the child whatever the caller's working directory.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_locust(command: list[str], env: dict[str, str], run_seconds: int, timeout_s: float) -> tuple[int, str]:
    """Run locust, showing a progress bar over the run time; return (exit code, its output)."""
    with tempfile.TemporaryFile(mode="w+") as output:
        proc = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT)
        start = time.monotonic()
        with tqdm(total=run_seconds, desc="load", unit="s", disable=None) as bar:
            while proc.poll() is None:
                elapsed = time.monotonic() - start
                if elapsed > timeout_s:
                    proc.kill()
                    proc.wait()
                    break
                bar.update(min(int(elapsed), run_seconds) - bar.n)
                time.sleep(0.5)
        output.seek(0)
        return proc.returncode, output.read()


def write_report(report_dir: Path, report: dict[str, Any]) -> Path:
    """Write the run's report as <UTC timestamp>.json under `report_dir`; return its path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(path)
    return path


def build_report(
    args: argparse.Namespace,
    config: LoadConfig,
    summaries: dict[str, RpcSummary],
    violations: list[Violation],
) -> dict[str, Any]:
    """Everything a later reader needs to interpret the run."""
    return {
        "finished_at": datetime.now(UTC).isoformat(),
        "targets": {"ranker": args.ranker, "user_state": args.user_state},
        "users": args.users,
        "spawn_rate": args.spawn_rate,
        "run_time": args.run_time,
        "workers": args.expect_workers or 0,
        "config_file": str(args.config),
        "config": config.model_dump(),
        "results": {name: s.to_dict() for name, s in summaries.items()},
        "violations": [v.to_dict() for v in violations],
        "slo_passed": not violations,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env = LoadSettings()
    parser.add_argument("--config", type=Path, default=env.config, help="task mix, workload and SLO file")
    parser.add_argument(
        "--ranker",
        default=env.ranker_address,
        help="Ranker host:port, needed when the mix has Recommend/UpsertItems [KAIROS_LOAD_RANKER_ADDRESS]",
    )
    parser.add_argument(
        "--user-state",
        default=env.user_state_address,
        help="UserState host:port, needed when the mix has AppendEvents [KAIROS_LOAD_USER_STATE_ADDRESS]",
    )
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated clients")
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="clients started per second")
    parser.add_argument("--run-time", default="30s", help="bounded duration, e.g. 30s, 2m")
    parser.add_argument("--stop-timeout", type=int, default=5, help="seconds clients get to finish at stop")
    parser.add_argument("--expect-workers", type=int, default=0, help="run as master of N locust workers")
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR, help="where the JSON goes")
    parser.add_argument("--locustfile", type=Path, default=LOCUSTFILE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users: must be >= 1")
    if args.spawn_rate <= 0:
        parser.error("--spawn-rate: must be > 0")
    if args.expect_workers < 0:
        parser.error("--expect-workers: must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run, print, report, check; see the module docstring for exit codes."""
    args = parse_args(argv)
    try:
        config = load_config(args.config)
        run_seconds = parse_run_time(args.run_time)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    missing = [
        flag
        for flag, needed, given in (
            ("--ranker", {"Recommend", "UpsertItems"} & set(config.enabled_rpcs()), args.ranker),
            ("--user-state", {"AppendEvents"} & set(config.enabled_rpcs()), args.user_state),
        )
        if needed and not given
    ]
    if missing:
        print(f"error: {', '.join(missing)} required by the task mix in {args.config}", file=sys.stderr)
        return EXIT_RUN_FAILED

    with tempfile.TemporaryDirectory(prefix="kairos-load-") as tmp:
        prefix = Path(tmp) / "stats"
        timeout_s = run_seconds + args.stop_timeout + (330 if args.expect_workers else 60)
        code, output = run_locust(
            locust_command(args, run_seconds, prefix), locust_environment(args), run_seconds, timeout_s
        )
        stats_file = prefix.with_name(prefix.name + ".json")
        if code != 0 or not stats_file.is_file():
            print(output[-4000:], file=sys.stderr)
            print(f"error: locust exited {code} without stats", file=sys.stderr)
            return EXIT_RUN_FAILED
        summaries = summarise(load_locust_json(stats_file))
    if summaries[OVERALL].requests == 0:
        print(output[-4000:], file=sys.stderr)
        print("error: the run made no request", file=sys.stderr)
        return EXIT_RUN_FAILED

    violations = check_slo(summaries, config.active_slo())
    print(format_table(summaries))
    report_path = write_report(args.report_dir, build_report(args, config, summaries, violations))
    for violation in violations:
        print(f"SLO VIOLATED  {violation}")
    print(f"SLO {'FAILED' if violations else 'PASSED'}; report: {report_path}")
    return EXIT_SLO_VIOLATED if violations else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
