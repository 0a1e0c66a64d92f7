"""The README's generated configuration reference matches the settings classes, and its commands exist."""

from __future__ import annotations

import re
import subprocess

from scripts.settings_reference import REFERENCE, REPO_ROOT, readme_block, render

README_MAX_LINES = 200
DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def _expand_braces(path: str) -> list[str]:
    """'a/{b,c}.py' -> ['a/b.py', 'a/c.py'] (one brace group, as the docs write file lists)."""
    match = re.search(r"\{([^}]*)\}", path)
    if match is None:
        return [path]
    return [path[: match.start()] + part + path[match.end() :] for part in match.group(1).split(",")]


def test_settings_reference_is_current() -> None:
    assert readme_block(REFERENCE.read_text()) == render(), "run: python scripts/settings_reference.py --write"


def test_the_readme_is_short_and_every_linked_or_quoted_path_exists() -> None:
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= README_MAX_LINES
    missing = []
    for doc in DOCUMENTS:
        text = doc.read_text()
        links = re.findall(r"\]\(([^)#]+)\)", text)
        quoted = re.findall(
            r"`((?:docs|deploy|ranker|recmodel|user_state|kairos|encoders|bench|scripts|protos|tests)/[^`*<> ]+)`", text
        )
        for target in links:
            if not target.startswith("http") and not (doc.parent / target).exists():
                missing.append(f"{doc.name}: {target}")
        for quote in quoted:
            for path in _expand_braces(quote.split("#")[0].rstrip("/")):
                if not (REPO_ROOT / path).exists():
                    missing.append(f"{doc.name}: {path}")
    assert not missing, missing


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
