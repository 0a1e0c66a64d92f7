"""Render every service's typed settings as the README's configuration reference (or check it is current).

python scripts/settings_reference.py            # print the markdown
python scripts/settings_reference.py --write    # replace the block between the markers in README.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- settings-reference:begin -->", "<!-- settings-reference:end -->"


def settings_classes() -> list[tuple[str, type[BaseSettings]]]:
    """(title, class) of every settings class an operator may set, in README order."""
    from deploy.load.settings import LoadSettings
    from deploy.local.settings import SuiteSettings
    from encoders.client.settings import EncoderClientSettings
    from encoders.settings import EncoderSettings
    from encoders.tensorrt.settings import TensorRTSettings
    from encoders.triton.settings import LauncherSettings, RepositorySettings
    from ranker.service.settings import RankerSettings
    from ranker.settings import RankerPaths
    from user_state.settings import UserStateSettings

    return [
        ("User-state service (`python -m user_state serve`)", UserStateSettings),
        ("Ranker service (`python -m ranker serve`)", RankerSettings),
        ("Ranker training and evaluation paths", RankerPaths),
        ("Encoders", EncoderSettings),
        ("Encoder client (ranker → Triton or in-process)", EncoderClientSettings),
        ("Triton model repository", RepositorySettings),
        ("Local Triton launcher", LauncherSettings),
        ("TensorRT engine build", TensorRTSettings),
        ("Local suite and demo (`make demo` / `make up`)", SuiteSettings),
        ("Load test (`make loadtest`)", LoadSettings),
    ]


def _default(field) -> str:
    if field.default_factory is not None:
        return "(computed)"
    value = field.default
    if isinstance(value, Path):
        try:
            value = value.relative_to(REPO_ROOT)
        except ValueError:
            value = Path("..") / value.relative_to(REPO_ROOT.parent) if REPO_ROOT.parent in value.parents else value
    text = "unset" if value is None else str(value)
    return f"`{text}`".replace("|", "\\|")


def render() -> str:
    """Markdown tables: setting, environment variable, default, meaning."""
    out = [BEGIN, ""]
    for title, cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        out += [
            f"#### {title}",
            "",
            "| setting | environment variable | default | meaning |",
            "| --- | --- | --- | --- |",
        ]
        for name, field in cls.model_fields.items():
            doc = (field.description or "").replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{name}` | `{prefix}{name.upper()}` | {_default(field)} | {doc} |")
        out.append("")
    out.append(END)
    return "\n".join(out)


def readme_block(readme: str) -> str:
    """The generated block currently in the README (markers included)."""
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[start:end]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="update README.md in place")
    args = parser.parse_args()
    table = render()
    if not args.write:
        print(table)
        return 0
    path = REPO_ROOT / "README.md"
    readme = path.read_text()
    path.write_text(readme.replace(readme_block(readme), table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
