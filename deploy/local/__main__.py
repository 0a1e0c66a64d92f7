"""`python -m deploy.local demo|up|down|status`: the local suite and the main job."""

from __future__ import annotations

import argparse
import logging
import sys

from deploy.local.dataset import resolve_dataset
from deploy.local.demo import ensure_artifact, run_demo
from deploy.local.settings import SuiteSettings
from deploy.local.suite import LocalSuite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__)
    parser.add_argument("command", choices=["demo", "up", "down", "status"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = SuiteSettings()
    suite = LocalSuite(settings)
    if args.command == "demo":
        run_demo(settings)
    elif args.command == "up":
        artifact = ensure_artifact(settings, resolve_dataset(settings.data_dir, settings.fallback_data_dir))
        suite.start(artifact)
        print(f"ranker {suite.ranker_address}  user-state {suite.user_state_address}  triton {suite.triton_address}")
        print(f"logs in {settings.log_dir}; stop with `make down`")
    elif args.command == "down":
        suite.stop()
    else:
        for name, pid in suite.status().items():
            print(f"{name:12s} {f'running (pid {pid})' if pid else 'stopped'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
