"""Render every service's typed settings as the configuration reference in docs/configuration.md (or check it).

python scripts/settings_reference.py            # print the markdown
python scripts/settings_reference.py --write    # replace the block between the markers in docs/configuration.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE = REPO_ROOT / "docs" / "configuration.md"
BEGIN, END = "<!-- settings-reference:begin -->", "<!-- settings-reference:end -->"


def settings_classes() -> list[tuple[str, type[BaseSettings]]]:
    """(title, class) of every settings class an operator may set, in the reference's order."""
    from deploy.load.settings import LoadSettings
    from deploy.local.settings import SuiteSettings
    from encoders.settings import EncoderSettings
    from encoders.tensorrt.settings import TensorRTSettings
    from encoders.triton.settings import LauncherSettings, RepositorySettings
    from ranker.service.settings import RankerSettings
    from recmodel.settings import RankerPaths
    from user_state.settings import UserStateSettings

    return [
        ("User-state service (`python -m user_state serve`)", UserStateSettings),
        ("Ranker service (`python -m ranker serve`)", RankerSettings),
        ("Ranker training and evaluation paths", RankerPaths),
        ("Encoders", EncoderSettings),
        ("Triton model repository", RepositorySettings),
        ("Local Triton launcher", LauncherSettings),
        ("TensorRT engine build", TensorRTSettings),
        ("Local suite and demo (`make demo` / `make up`)", SuiteSettings),
        ("Load test (`make loadtest`)", LoadSettings),
    ]


def _default(field: FieldInfo) -> str:
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


def _nested_model(field: FieldInfo) -> type[BaseModel] | None:
    """The model class of a nested-settings field (a BaseModel that is not itself read from the environment)."""
    kind = field.annotation
    if isinstance(kind, type) and issubclass(kind, BaseModel) and not issubclass(kind, BaseSettings):
        return kind
    return None


def _rows(cls: type[BaseModel], path: str, env: str, delimiter: str) -> list[str]:
    """One row per setting; a nested model's fields are `parent.name` / PREFIX_PARENT<delimiter>NAME."""
    rows = []
    for name, field in cls.model_fields.items():
        nested = _nested_model(field)
        if nested is not None and delimiter:
            rows += _rows(nested, f"{path}{name}.", f"{env}{name.upper()}{delimiter}", delimiter)
            continue
        doc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{path}{name}` | `{env}{name.upper()}` | {_default(field)} | {doc} |")
    return rows


def render() -> str:
    """Markdown tables: setting, environment variable, default, meaning."""
    out = [BEGIN, ""]
    for title, cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        delimiter = cls.model_config.get("env_nested_delimiter") or ""
        out += [
            f"#### {title}",
            "",
            "| setting | environment variable | default | meaning |",
            "| --- | --- | --- | --- |",
        ]
        out += _rows(cls, "", prefix, delimiter)
        out.append("")
    out.append(END)
    return "\n".join(out)


def readme_block(readme: str) -> str:
    """The generated block currently in the document (markers included)."""
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[start:end]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="update docs/configuration.md in place")
    args = parser.parse_args()
    table = render()
    if not args.write:
        print(table)
        return 0
    path = REFERENCE
    readme = path.read_text()
    path.write_text(readme.replace(readme_block(readme), table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
