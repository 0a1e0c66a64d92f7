"""Build the text an item is embedded from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

GENRE_SEPARATOR = "|"


def build_item_text(fields: Mapping[str, str], field_order: Sequence[str]) -> str:
    """Join the non-empty ``fields`` named in ``field_order`` into one text, in that order.

    ``genres`` written as ``A|B|C`` become ``A, B, C``. Missing, ``None`` or blank fields are skipped, so an
    item without a plot is still described by its title and genres. Returns ``""`` when nothing is left.
    """
    parts: list[str] = []
    for name in field_order:
        value = fields.get(name)
        if value is None:
            continue
        text = str(value).strip()
        if not text or text.lower() == "nan":
            continue
        if name == "genres":
            text = ", ".join(g.strip() for g in text.split(GENRE_SEPARATOR) if g.strip())
        parts.append(text)
    return ". ".join(parts)
