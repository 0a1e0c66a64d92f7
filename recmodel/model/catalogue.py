"""The item table a model was trained on (ids + raw encoder features + presence masks + training counts), stored in
artifacts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from encoders.features import ItemFeatures
from recmodel.model.recommender import ItemInputs


@dataclass
class Catalogue(ItemFeatures):
    """An item table (:class:`encoders.features.ItemFeatures`: row i describes ``item_ids[i]``; text (N, text_dim)
    and image (N, image_dim) float32, presence masks (N,) bool) plus what training adds: each row's training
    events. The one item-feature type: encoders write it, training and the artifact keep it as a Catalogue, the
    ranker's live table (``ranker.catalog.feature_table``) starts from it."""

    train_counts: np.ndarray | None = None  # (N,) int64 training events per item (None: unknown, all trained)

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        for name in ("text", "image", "has_text", "has_image", "train_counts"):
            if getattr(self, name) is not None and len(getattr(self, name)) != n:
                raise ValueError(f"{name}: {len(getattr(self, name))} rows for {n} item ids")

    def __len__(self) -> int:
        return len(self.item_ids)

    @classmethod
    def from_features(cls, features: ItemFeatures) -> Catalogue:
        """Copy an item table (``encoders.features.ItemFeatures``), with the dtypes a model reads."""
        return cls(
            item_ids=[str(i) for i in features.item_ids],
            text=np.asarray(features.text, dtype=np.float32),
            image=np.asarray(features.image, dtype=np.float32),
            has_text=np.asarray(features.has_text, dtype=bool),
            has_image=np.asarray(features.has_image, dtype=bool),
        )

    def aligned_to(self, item_ids: list[str]) -> Catalogue:
        """Rows reordered to ``item_ids``; every id must be present."""
        index = {i: k for k, i in enumerate(self.item_ids)}
        missing = [i for i in item_ids if i not in index]
        if missing:
            raise ValueError(f"item_ids: {len(missing)} items have no features, e.g. {missing[:5]}")
        rows = np.array([index[i] for i in item_ids], dtype=np.int64)
        counts = None if self.train_counts is None else self.train_counts[rows]
        return Catalogue(
            list(item_ids), self.text[rows], self.image[rows], self.has_text[rows], self.has_image[rows], counts
        )

    def with_train_counts(self, counts: np.ndarray) -> Catalogue:
        """A copy that records how many training events each row had."""
        return replace(self, train_counts=np.asarray(counts, dtype=np.int64))

    @property
    def trained(self) -> np.ndarray | None:
        """(N,) bool: the rows that had training events, or None when unknown."""
        return None if self.train_counts is None else self.train_counts > 0

    def trained_mask(self) -> torch.Tensor | None:
        """(N,) bool tensor of the rows that had training events, or None when unknown."""
        trained = self.trained
        return None if trained is None else torch.from_numpy(trained)

    def without(self, modality: str) -> Catalogue:
        """A copy with one modality ('text' or 'image') marked absent for every item."""
        if modality not in ("text", "image"):
            raise ValueError(f"modality: expected 'text' or 'image', got {modality!r}")
        absent = np.zeros(len(self), dtype=bool)
        return replace(self, has_text=absent) if modality == "text" else replace(self, has_image=absent)

    def with_images_on(self, fraction: float, seed: int) -> Catalogue:
        """A copy in which only ``fraction`` of the items with an image keep it (a seeded random subset); the
        others are marked image-free and their image vectors zeroed, as for an item upserted without one."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction: expected 0 < fraction <= 1, got {fraction}")
        with_image = np.flatnonzero(self.has_image)
        keep = round(fraction * len(with_image))
        dropped = np.random.default_rng(seed).permutation(with_image)[keep:]
        has_image = self.has_image.copy()
        has_image[dropped] = False
        image = self.image.copy()
        image[dropped] = 0.0
        return replace(self, image=image, has_image=has_image)

    def inputs(self, device: torch.device | str = "cpu") -> ItemInputs:
        """Torch view of the whole table; row index doubles as the item index."""
        return ItemInputs(
            text=torch.from_numpy(self.text).to(device),
            image=torch.from_numpy(self.image).to(device),
            has_text=torch.from_numpy(self.has_text).to(device),
            has_image=torch.from_numpy(self.has_image).to(device),
            index=torch.arange(len(self), device=device),
        )

    def save(self, path: Path) -> None:
        """Write to one ``.npz`` file (atomically: temp file then rename)."""
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            item_ids=np.array(self.item_ids, dtype=str),
            text=self.text,
            image=self.image,
            has_text=self.has_text,
            has_image=self.has_image,
            **({} if self.train_counts is None else {"train_counts": self.train_counts}),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                item_ids=z["item_ids"].tolist(),
                text=z["text"].astype(np.float32),
                image=z["image"].astype(np.float32),
                has_text=z["has_text"].astype(bool),
                has_image=z["has_image"].astype(bool),
                train_counts=z["train_counts"].astype(np.int64) if "train_counts" in z.files else None,
            )
