"""Check the PrometheusRule objects of a rendered kustomization with promtool.

Each PrometheusRule's `spec` is written out as a plain Prometheus rules file named `<metadata.name>.rules.yaml`
(the form `promtool` and a non-operator Prometheus read), then `promtool check rules` lints it and
`promtool test rules` runs the unit tests in deploy/prometheus/tests/*.test.yaml, which load those files by
that name. What is checked is therefore exactly what the overlay deploys.

    python -m deploy.prometheus.check_rules [--overlay cpu] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy.k8s.validate import K8S_DIR, load_documents, render, require_tool

RULE_TESTS_DIR = Path(__file__).resolve().parent / "tests"


@dataclass(frozen=True)
class PromtoolResult:
    """Exit status and combined output of one promtool command."""

    command: str
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def extract_rule_files(documents: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write each PrometheusRule's groups to `out_dir/<name>.rules.yaml`; return the files written."""
    written = []
    for doc in documents:
        if doc.get("kind") != "PrometheusRule":
            continue
        path = out_dir / f"{doc['metadata']['name']}.rules.yaml"
        path.write_text(yaml.safe_dump({"groups": doc["spec"]["groups"]}, sort_keys=False))
        written.append(path)
    if not written:
        raise ValueError("the rendered manifests hold no PrometheusRule")
    return written


def run_promtool(args: list[str], cwd: Path) -> PromtoolResult:
    """Run `promtool ARGS` in `cwd`."""
    proc = subprocess.run([require_tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, check=False)
    return PromtoolResult(" ".join(["promtool", *args]), proc.returncode, proc.stdout + proc.stderr)


def check_rules(rendered: str, work_dir: Path, tests_dir: Path = RULE_TESTS_DIR) -> list[PromtoolResult]:
    """Extract the rules into `work_dir`, copy the rule unit tests beside them, lint and test them."""
    rule_files = extract_rule_files(load_documents(rendered), work_dir)
    test_files = sorted(tests_dir.glob("*.test.yaml"))
    if not test_files:
        raise ValueError(f"no rule unit tests (*.test.yaml) in {tests_dir}")
    for test in test_files:
        shutil.copy(test, work_dir / test.name)
    return [
        run_promtool(["check", "rules", *(f.name for f in rule_files)], work_dir),
        run_promtool(["test", "rules", *(t.name for t in test_files)], work_dir),
    ]


def main(argv: list[str] | None = None) -> int:
    """Check the rules of one overlay; print promtool's output; exit 1 when a check fails."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--overlay", default="cpu", help="overlay under deploy/k8s/overlays (default: cpu)")
    parser.add_argument("--out", type=Path, help="keep the extracted rules files in this directory")
    args = parser.parse_args(argv)
    overlay = K8S_DIR / "overlays" / args.overlay
    if not (overlay / "kustomization.yaml").is_file():
        parser.error(f"--overlay: no kustomization at {overlay}")
    rendered = render(overlay)
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = args.out or Path(tmp)
        work_dir.mkdir(parents=True, exist_ok=True)
        results = check_rules(rendered, work_dir)
    for result in results:
        print(f"$ {result.command}\n{result.output.rstrip()}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
