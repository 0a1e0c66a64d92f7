"""A documented two-domain split of ml100k-mm genres, used to exercise cross-domain attention.

Domain ``thrill`` holds items whose *first* listed genre is one of Action, Adventure, Crime, Film-Noir, Horror,
Mystery, Sci-Fi, Thriller, War, Western; every other item (Comedy, Drama, Romance, Children's, Animation,
Documentary, Musical, Fantasy, unknown) is in domain ``heart``. Each event takes its item's domain.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recmodel.data.contract import Dataset

THRILL_GENRES = frozenset(
    {"Action", "Adventure", "Crime", "Film-Noir", "Horror", "Mystery", "Sci-Fi", "Thriller", "War", "Western"}
)
DOMAINS = ("heart", "thrill")


def item_domain(genres: list[str]) -> str:
    """Domain of an item from its genre list (first genre decides)."""
    return "thrill" if genres and genres[0] in THRILL_GENRES else "heart"


def with_genre_domains(dataset: Dataset) -> Dataset:
    """Return ``dataset`` with every event's domain set from its item's genres."""
    by_item = {i: item_domain(g) for i, g in zip(dataset.items.item_ids, dataset.items.genres, strict=True)}
    domains = np.array([by_item[i] for i in dataset.events.item_ids], dtype=object)
    return dataclasses.replace(dataset, events=dataclasses.replace(dataset.events, domains=domains))
