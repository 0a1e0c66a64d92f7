"""The README's generated configuration reference matches the settings classes, and its commands exist."""

from __future__ import annotations

import re
import subprocess

from scripts.settings_reference import REPO_ROOT, readme_block, render


def test_settings_reference_is_current() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert readme_block(readme) == render(), "run: python scripts/settings_reference.py --write"


def test_every_make_target_the_readme_names_exists() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    named = set(re.findall(r"`make ([a-z0-9-]+)`", readme)) | set(re.findall(r"^make ([a-z0-9-]+)", readme, re.M))
    listed = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    targets = {line.split()[0] for line in listed.splitlines() if line.strip()}
    assert named, "the README names make targets"
    assert named <= targets, f"README names targets make does not have: {sorted(named - targets)}"


def test_every_documented_target_has_a_recipe_that_expands() -> None:
    """`make -n` of every target in `make help` succeeds on a clean checkout (a broken recipe or a prerequisite
    that expands to nothing, such as bench's artifact once did, fails here)."""
    listed = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    targets = sorted({line.split()[0] for line in listed.splitlines() if line.strip()})
    assert {"bench", "cold-start", "new-users", "demo", "test"} <= set(targets)
    failed = {}
    for target in targets:
        dry = subprocess.run(
            ["make", "-n", target],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        if dry.returncode != 0:
            failed[target] = dry.stderr.strip()[-300:]
    assert not failed, failed
