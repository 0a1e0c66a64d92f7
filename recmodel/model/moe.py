"""Interactive MoE (cross-modality mixing) and temporal MoE (time-routed scale experts), after HM4SR."""

from __future__ import annotations

import torch
from torch import nn

from recmodel.model.temporal import ABS_TIME_FEATURES, num_bucket_embeddings


class InteractiveMoE(nn.Module):
    """K shared experts over the concatenated modalities; one softmax gate per modality; residual add."""

    def __init__(self, num_modalities: int, dim: int, num_experts: int) -> None:
        super().__init__()
        width = num_modalities * dim
        self.dim = dim
        self.experts = nn.ModuleList(nn.Linear(width, width) for _ in range(num_experts))
        self.gates = nn.ModuleList(nn.Linear(dim, num_experts) for _ in range(num_modalities))
        self.weights = nn.Parameter(torch.ones(num_modalities))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        z = torch.cat(xs, dim=-1)
        outputs = torch.stack([expert(z) for expert in self.experts], dim=-2)  # (..., K, M*d)
        mixed = []
        for m, (x, gate) in enumerate(zip(xs, self.gates, strict=True)):
            g = torch.softmax(gate(x), dim=-1).unsqueeze(-1)  # (..., K, 1)
            mixture = (g * outputs[..., m * self.dim : (m + 1) * self.dim]).sum(-2)
            mixed.append(x + self.weights[m] * mixture)
        return mixed


class TimeEmbedding(nn.Module):
    """Embeds interval buckets and absolute-time phases into one vector per position."""

    def __init__(self, dim: int, interval_buckets: int) -> None:
        super().__init__()
        self.interval = nn.Embedding(num_bucket_embeddings(interval_buckets), dim, padding_idx=0)
        self.absolute = nn.Linear(ABS_TIME_FEATURES, dim)

    def forward(self, interval_idx: torch.Tensor, abs_features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.interval(interval_idx), self.absolute(abs_features)], dim=-1)


class TemporalMoE(nn.Module):
    """Router softmax([e_interval; e_absolute]) over K registered scale-vector experts: z' = z * sum_k r_k u_k."""

    def __init__(self, width: int, time_dim: int, num_experts: int) -> None:
        super().__init__()
        self.router = nn.Linear(time_dim, num_experts)
        self.experts = nn.Parameter(1.0 + 0.01 * torch.randn(num_experts, width))

    def forward(self, z: torch.Tensor, time_embedding: torch.Tensor) -> torch.Tensor:
        route = torch.softmax(self.router(time_embedding), dim=-1)
        return z * (route @ self.experts)
