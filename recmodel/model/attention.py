"""Causal self-attention blocks with optional intra-domain masking (hierarchical cross-domain attention)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recmodel.model.dropout import FastDropout


def attention_mask(mask: torch.Tensor, domains: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean (B, 1, L, L) 'may attend' matrix: causal, valid keys only, same domain when ``domains`` given.

    The diagonal is always allowed so no row is empty (pad rows produce finite values nobody reads).
    """
    length = mask.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
    allowed = causal.unsqueeze(0) & mask.unsqueeze(1)
    if domains is not None:
        allowed = allowed & (domains.unsqueeze(2) == domains.unsqueeze(1))
    allowed = allowed | torch.eye(length, dtype=torch.bool, device=mask.device).unsqueeze(0)
    return allowed.unsqueeze(1)


class CausalBlock(nn.Module):
    """Pre-norm transformer block: multi-head attention under a given mask, then a feed-forward layer."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), FastDropout(dropout), nn.Linear(2 * dim, dim))
        self.dropout = FastDropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(b, n, d)))
        return x + self.dropout(self.ffn(self.norm2(x)))


class SequenceEncoder(nn.Module):
    """A stack of causal blocks for one modality. With ``hierarchical``, the first block attends within the
    event's own domain (intra-domain) and later blocks over the merged sequence (cross-domain)."""

    def __init__(self, dim: int, heads: int, layers: int, dropout: float, hierarchical: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(CausalBlock(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.hierarchical = hierarchical

    def forward(self, x: torch.Tensor, mask: torch.Tensor, domains: torch.Tensor | None) -> torch.Tensor:
        merged = attention_mask(mask)
        intra = attention_mask(mask, domains) if self.hierarchical and domains is not None else merged
        for i, block in enumerate(self.blocks):
            x = block(x, intra if i == 0 else merged)
        return self.norm(x)
