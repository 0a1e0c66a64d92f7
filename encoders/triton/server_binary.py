"""Locate the ``tritonserver`` binary bundled in nvidia-pytriton and lay out a runnable server folder."""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerLayout:
    """A server folder: the binary, a backends dir with the python backend and the stub for this Python."""

    binary: Path
    backend_dir: Path
    libs_dirs: tuple[Path, ...]


def pytriton_dist() -> Path:
    """The ``pytriton/tritonserver`` folder of the installed wheel."""
    import pytriton

    dist = Path(pytriton.__file__).resolve().parent / "tritonserver"
    if not (dist / "bin" / "tritonserver").exists():
        raise FileNotFoundError(f"{dist}/bin/tritonserver missing: is nvidia-pytriton==0.7.0 installed?")
    return dist


def python_lib_dir() -> Path:
    """Python's own lib dir; must precede system dirs on LD_LIBRARY_PATH so the stub loads this libpython."""
    return Path(sysconfig.get_config_var("LIBDIR"))


def prepare_server(root: Path) -> ServerLayout:
    """Symlink the bundled binary and python backend under ``root`` with the stub matching this Python."""
    dist = pytriton_dist()
    python_backend = root / "backends" / "python"
    python_backend.mkdir(parents=True, exist_ok=True)
    for item in (dist / "backends" / "python").iterdir():
        if item.name != "__pycache__":
            _link(item, python_backend / item.name)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise FileNotFoundError(f"{stub}: pytriton ships no python backend stub for Python {version}")
    _link(stub, python_backend / "triton_python_backend_stub")
    libs = (python_lib_dir(), dist.parent.parent / "nvidia_pytriton.libs")
    return ServerLayout(dist / "bin" / "tritonserver", root / "backends", libs)


def server_environment(layout: ServerLayout, python_path: list[Path]) -> dict[str, str]:
    """Environment for the server: library path, PATH with this interpreter, PYTHONPATH for the stub."""
    env = os.environ.copy()
    ld = [str(p) for p in layout.libs_dirs]
    if env.get("LD_LIBRARY_PATH"):
        ld.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(ld)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    paths = [str(p) for p in python_path] + site.getsitepackages()
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = ":".join(paths)
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def _link(source: Path, target: Path) -> None:
    if target.is_symlink() or target.exists():
        target.unlink()
    os.symlink(source, target)
