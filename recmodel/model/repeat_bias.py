"""Learned repeat-consumption bias: how much more (or less) likely an item the user already consumed is next.

Score(user, item) gains, for every earlier event of the user's history on ``item``, a learned scalar b(gap)
where gap is the log-bucketed time between that event and the request (the same buckets as the temporal MoE's
intervals). On data where people re-consume (music, groceries) b(gap) learns to be positive for recent gaps; on
data where they never do (a film is rated once) it learns to be strongly negative, so the history no longer
fills the top of the ranking. A dot-product index cannot hold this term (it depends on the user's history, not
on the item alone), so the service adds it to the history items' scores after retrieval.
"""

from __future__ import annotations

import torch
from torch import nn

from recmodel.model.temporal import log_bucket, num_bucket_embeddings


class RepeatBias(nn.Module):
    """b(gap) = ``scale`` times a learned value per log-bucketed gap between a history event and the request,
    initialised to 0 (no effect)."""

    def __init__(self, interval_scale: float, interval_buckets: int, scale: float) -> None:
        super().__init__()
        self.interval_scale = interval_scale
        self.interval_buckets = interval_buckets
        self.scale = scale
        self.table = nn.Embedding(num_bucket_embeddings(interval_buckets), 1)
        nn.init.zeros_(self.table.weight)

    def _bias(self, gap_ms: torch.Tensor) -> torch.Tensor:
        return self.scale * self.table(log_bucket(gap_ms, self.interval_scale, self.interval_buckets)).squeeze(-1)

    def pair_bias(self, times_ms: torch.Tensor, mask: torch.Tensor, request_ms: torch.Tensor) -> torch.Tensor:
        """(B, L, L) bias that history position j (events ``times_ms`` (B, L), valid where ``mask``) adds to its
        item for the prediction after position t, requested at ``request_ms[:, t]``; 0 for pads and for j > t
        (a prediction sees only the events before it, as in the causal transformer)."""
        bias = self._bias(request_ms.unsqueeze(2) - times_ms.unsqueeze(1))
        causal = torch.ones(mask.shape[1], mask.shape[1], dtype=torch.bool, device=mask.device).tril()
        return torch.where(causal.unsqueeze(0) & mask.unsqueeze(1), bias, torch.zeros((), dtype=bias.dtype))

    def last_position(self, times_ms: torch.Tensor, mask: torch.Tensor, request_ms: torch.Tensor) -> torch.Tensor:
        """(B, L) bias of every history position (valid where ``mask``) for a request at ``request_ms`` (B,) after
        the last event; 0 at pads."""
        bias = self._bias(request_ms.unsqueeze(1) - times_ms)
        return torch.where(mask, bias, torch.zeros((), dtype=bias.dtype))


def add_repeat_bias(scores: torch.Tensor, items: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``scores`` (..., N) plus ``bias`` (..., L) scattered onto the catalogue indices ``items`` (..., L);
    an item present at several history positions gets the sum of their biases."""
    index = items.expand(*bias.shape[:-1], items.shape[-1])
    return scores.scatter_add(-1, index, bias.to(scores.dtype))
