"""The top-level packages import only what their READMEs allow: above all, the online services never import the
offline model library's training, evaluation or retraining code (checked on the source and at run time)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("kairos", "encoders", "user_state", "ranker", "recmodel", "deploy", "bench", "scripts", "tests")

# What no online module may import: everything of recmodel but the model's serving surface (recmodel.model).
OFFLINE = (
    "recmodel.training",
    "recmodel.evaluation",
    "recmodel.retrain",
    "recmodel.data",
    "recmodel.train",
    "recmodel.evaluate",
    "recmodel.features",
    "recmodel.metrics",
    "recmodel.settings",
)

# package (or sub-package) -> the first-party packages its modules may import; the longest matching key applies.
ALLOWED: dict[str, tuple[str, ...]] = {
    "kairos": ("kairos",),
    "encoders": ("encoders", "kairos"),
    "user_state": ("user_state", "kairos"),
    "ranker": ("ranker", "recmodel.model", "user_state", "encoders", "kairos"),
    "recmodel.model": ("recmodel.model", "kairos", "encoders.features"),  # the item-table type (ItemFeatures)
    "recmodel": ("recmodel", "encoders", "kairos"),
    # retraining reads what the services wrote: the ranker's item store records and feed, the event log
    "recmodel.retrain": ("recmodel", "encoders", "kairos", "ranker.catalog", "user_state.event_log"),
    "bench": ("bench", "kairos", "encoders", "user_state", "ranker", "recmodel", "deploy"),
    "deploy": ("deploy", "kairos", "encoders", "user_state", "ranker", "recmodel"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every first-party module ``source`` (the code of ``module``) imports anywhere: top level, functions,
    TYPE_CHECKING blocks; ``from a import b`` counts as ``a.b`` when that is a module."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from ..a import b
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if _is_module(full) else base)
    return {m for m in found if m.split(".")[0] in FIRST_PARTY}


def imported_modules(path: Path) -> set[str]:
    return imports_of(path.read_text(), _module_name(path), path.name == "__init__.py")


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _rule(module: str) -> tuple[str, ...] | None:
    keys = [k for k in ALLOWED if _within(module, k)]
    return ALLOWED[max(keys, key=len)] if keys else None


def _sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (REPO / pkg).rglob("*.py") if "_pb2" not in p.name)


def test_the_walk_sees_every_kind_of_import() -> None:
    """The checker itself: imports inside functions, ``from package import module`` and relative imports count."""
    source = (
        "from __future__ import annotations\n"
        "from kairos.lru import LruCache\n"
        "def f():\n"
        "    from recmodel import train\n"
        "    import recmodel.evaluation.quality\n"
        "    from .. import index\n"
        "    from .items import ItemService\n"
    )
    found = imports_of(source, "ranker.service.probe")
    assert found == {
        "kairos.lru",
        "recmodel.train",
        "recmodel.evaluation.quality",
        "ranker.index",
        "ranker.service.items",
    }
    assert [m for m in found if any(_within(m, o) for o in OFFLINE)] != []


def test_no_online_module_imports_offline_code() -> None:
    bad = []
    for path in _sources("ranker", "user_state", "kairos"):
        for module in imported_modules(path):
            if any(_within(module, offline) for offline in OFFLINE):
                bad.append(f"{path.relative_to(REPO)} imports {module}")
    assert not bad, "the services may use only recmodel.model (the serving surface):\n" + "\n".join(bad)


def test_every_package_imports_only_what_its_readme_allows() -> None:
    bad = []
    for path in _sources("kairos", "encoders", "user_state", "ranker", "recmodel", "bench", "deploy"):
        own = _module_name(path)
        allowed = _rule(own)
        assert allowed is not None, own
        for module in imported_modules(path):
            if not any(_within(module, a) for a in allowed):
                bad.append(f"{path.relative_to(REPO)} imports {module} (allowed: {', '.join(allowed)})")
    assert not bad, "\n".join(bad)


def test_every_top_level_folder_has_a_readme() -> None:
    missing = [folder for folder in FIRST_PARTY if not (REPO / folder / "README.md").is_file()]
    assert not missing, f"top-level folders without a README.md: {missing}"


def test_the_running_services_load_no_offline_code() -> None:
    """Import the services' entry points in a fresh interpreter: only the serving surface of recmodel is loaded."""
    entry = ("ranker.__main__", "ranker.service.cli", "ranker.service.app", "user_state.cli", "user_state.app")
    code = (
        "import importlib, json, sys\n"
        "sys.argv = ['probe', '--help']\n"
        f"for name in {entry!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except SystemExit:\n"  # ranker.__main__ parses argv: --help prints and exits
        "        pass\n"
        "mods = {n: getattr(m, '__file__', '') for n, m in sys.modules.items()\n"
        "        if n.startswith(('recmodel', 'ranker'))}\n"
        "print(json.dumps(mods))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    loaded: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "recmodel.model.serving" in loaded and "ranker.service.app" in loaded, "the probe reaches the service"
    elsewhere = [f for f in loaded.values() if f and not f.startswith(str(REPO))]
    assert not elsewhere, f"imported from another checkout: {elsewhere[:3]}"
    offline = sorted(m for m in loaded if any(_within(m, o) for o in OFFLINE))
    assert not offline, f"the services loaded offline code: {offline}"


def test_no_module_is_over_400_lines() -> None:
    """Small modules: a file that grows past 400 lines is split by concern (as recmodel.evaluate was)."""
    packages = ("kairos", "encoders", "user_state", "ranker", "recmodel", "deploy", "bench", "scripts")
    long = [f"{p.relative_to(REPO)}: {n}" for p in _sources(*packages) if (n := len(p.read_text().splitlines())) > 400]
    assert not long, long
