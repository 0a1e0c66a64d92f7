"""Per-modality item representations: feature projections with an explicit learned 'absent' vector."""

from __future__ import annotations

import torch
from torch import nn


class FeatureProjection(nn.Module):
    """Standardise frozen encoder features and project them to ``dim``; absent features map to a learned vector.

    The standardisation statistics are buffers (saved with the weights), so serving needs no dataset.
    ``feature_dropout`` (training only) drops standardised input features, so the projection cannot memorise
    individual items from a few feature values and generalises to items it never saw.
    """

    mean: torch.Tensor  # buffers (register_buffer in __init__)
    std: torch.Tensor

    def __init__(self, in_dim: int, dim: int, hidden: int = 0, feature_dropout: float = 0.0) -> None:
        super().__init__()
        self.feature_dropout = nn.Dropout(feature_dropout)
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        if hidden:
            self.proj: nn.Module = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        else:
            self.proj = nn.Linear(in_dim, dim)
        for layer in self.proj.modules():
            if isinstance(layer, nn.Linear):  # small initial item vectors keep the first softmax near uniform
                nn.init.normal_(layer.weight, std=0.1 / layer.in_features**0.5)
                nn.init.zeros_(layer.bias)
        self.absent = nn.Parameter(torch.randn(dim) * 0.02)

    @torch.no_grad()
    def fit_statistics(self, features: torch.Tensor, present: torch.Tensor) -> None:
        """Set the standardisation statistics from the present rows of a feature table."""
        rows = features[present]
        if len(rows) > 1:
            self.mean.copy_(rows.mean(0))
            self.std.copy_(rows.std(0).clamp(min=1e-4))

    def forward(self, features: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """(..., in_dim) features and (...) presence mask → (..., dim)."""
        projected = self.proj(self.feature_dropout((features - self.mean) / self.std))
        return torch.where(present.unsqueeze(-1), projected, self.absent.expand_as(projected))
