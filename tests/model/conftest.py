"""Fixtures for model tests: a small synthetic ml100k-mm-shaped dataset with random encoder features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from encoders.features import ItemFeatures, save_features
from recmodel.data.loaders import load_ml100k_mm
from recmodel.data.splits import Split, leave_one_out
from recmodel.model.catalogue import Catalogue

N_USERS, N_ITEMS, TEXT_DIM, IMAGE_DIM = 40, 60, 384, 1280
GENRES = ["Action", "Comedy", "Drama", "Thriller", "Romance"]


def write_synthetic_dataset(root: Path, seed: int = 0) -> Path:
    """ml100k-mm-shaped files (timestamps in Unix seconds, ties included) under ``root/ml100k-mm``."""
    rng = np.random.default_rng(seed)
    data = root / "ml100k-mm"
    data.mkdir(parents=True)
    rows = []
    for u in range(1, N_USERS + 1):
        n = int(rng.integers(8, 30))
        items = rng.choice(N_ITEMS, size=n, replace=False) + 1
        t = 880_000_000 + int(rng.integers(0, 10_000_000))
        for item in items:
            t += int(rng.choice([0, 0, 30, 3_600, 86_400 * 3]))  # about half the events share a second
            rows.append((u, int(item), 4.0, t))
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(
        data / "interactions.csv", index=False
    )
    items = pd.DataFrame(
        {
            "item_id": range(1, N_ITEMS + 1),
            "title": [f"Movie {i}" for i in range(1, N_ITEMS + 1)],
            "year": 1995,
            "genres": ["|".join(rng.choice(GENRES, size=2, replace=False)) for _ in range(N_ITEMS)],
            "plot": ["" if i % 7 == 0 else f"plot {i}" for i in range(1, N_ITEMS + 1)],
            "image": ["" if i % 5 == 0 else f"images/{i}.jpg" for i in range(1, N_ITEMS + 1)],
        }
    )
    items.to_csv(data / "items.csv", index=False)
    return data


def random_features(item_ids: list[str], seed: int = 0) -> ItemFeatures:
    """Random features obeying the encoders contract (item 5k has no image)."""
    rng = np.random.default_rng(seed)
    n = len(item_ids)
    text = rng.normal(size=(n, TEXT_DIM)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    has_image = np.array([int(i) % 5 != 0 for i in item_ids])
    image = np.where(has_image[:, None], np.abs(rng.normal(size=(n, IMAGE_DIM))), 0).astype(np.float32)
    return ItemFeatures(list(item_ids), text, image, np.ones(n, dtype=bool), has_image)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder and a feature cache (``<root>/features/ml100k-mm``) for the synthetic dataset."""
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(root)
    ids = [str(i) for i in range(1, N_ITEMS + 1)]
    save_features(random_features(ids), root / "features" / "ml100k-mm")
    return root


@pytest.fixture(scope="session")
def synthetic_split(synthetic_root: Path) -> Split:
    return leave_one_out(load_ml100k_mm(synthetic_root / "ml100k-mm"), cold_fraction=0.1, seed=0, max_len=10)


@pytest.fixture(scope="session")
def synthetic_catalogue(synthetic_split: Split) -> Catalogue:
    return Catalogue.from_features(random_features(synthetic_split.item_ids))


TINY = {
    "name": "tiny",
    "data": {"max_len": 10},
    "model": {"dim": 16, "moe_experts": 2, "temporal_experts": 2, "dropout": 0.1},
    "train": {"epochs": 2, "batch_size": 16, "lr": 0.005, "patience": 2, "progress": False, "threads": 1},
}


@pytest.fixture
def tiny_config_file(tmp_path: Path) -> Path:
    """A tiny experiment YAML extending nothing (all defaults but small sizes)."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path
