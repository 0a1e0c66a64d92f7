"""The result type every encoder backend returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Embeddings:
    """``vectors`` float32 (n, d) in input order; ``errors[i]`` is None or why item i failed (its row is zeros)."""

    vectors: np.ndarray
    errors: list[str | None]

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the rows that hold a real embedding."""
        return np.array([e is None for e in self.errors], dtype=bool)
