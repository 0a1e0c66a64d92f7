"""Dropout drawn with ``torch.rand`` (several times faster on CPU than ``bernoulli_``, same expectation)."""

from __future__ import annotations

import torch
from torch import nn


class FastDropout(nn.Module):
    """Inverted dropout: zero each element with probability ``p`` during training, scale the rest by 1/(1-p)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout: must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)
