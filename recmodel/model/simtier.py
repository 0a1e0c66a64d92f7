"""SimTier (Taobao, CIKM'24): a histogram of cosine similarities between a candidate and the history items."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def similarity_histograms(
    history: torch.Tensor, history_valid: torch.Tensor, candidates: torch.Tensor, bins: int
) -> torch.Tensor:
    """(B, N, bins) share of valid history items whose cosine similarity with each candidate falls in each bin.

    ``history`` (B, L, F) and ``candidates`` (N, F) are raw features; ``history_valid`` (B, L) bool.
    """
    sims = F.normalize(history, dim=-1) @ F.normalize(candidates, dim=-1).T  # (B, L, N)
    idx = ((sims + 1.0) * 0.5 * bins).long().clamp(0, bins - 1).transpose(1, 2)  # (B, N, L)
    weight = history_valid.float().unsqueeze(1).expand_as(idx)
    hist = torch.zeros(*idx.shape[:2], bins, device=history.device).scatter_add_(2, idx, weight)
    return hist / history_valid.sum(1).clamp(min=1).view(-1, 1, 1)


class SimTier(nn.Module):
    """Linear score over concatenated per-modality similarity histograms (an additive re-ranking feature)."""

    def __init__(self, bins: int, num_modalities: int) -> None:
        super().__init__()
        self.bins = bins
        self.linear = nn.Linear(bins * num_modalities, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(
        self,
        histories: list[torch.Tensor],
        history_valid: list[torch.Tensor],
        candidates: list[torch.Tensor],
        candidate_valid: list[torch.Tensor],
    ) -> torch.Tensor:
        """(B, N) additive scores; modalities absent on either side contribute empty histograms."""
        feats = []
        for h, hv, c, cv in zip(histories, history_valid, candidates, candidate_valid, strict=True):
            feats.append(similarity_histograms(h, hv, c, self.bins) * cv.float().view(1, -1, 1))
        return self.linear(torch.cat(feats, dim=-1)).squeeze(-1)
