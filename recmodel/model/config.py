"""Typed model hyper-parameters; stored inside every artifact."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Modality = Literal["id", "text", "image"]


def _content_modalities() -> list[Modality]:
    return ["text", "image"]


class ModelConfig(BaseModel):
    """Architecture of :class:`recmodel.model.recommender.Recommender` (docs/model.md)."""

    model_config = ConfigDict(extra="forbid")

    dim: int = Field(64, ge=4)
    modalities: list[Modality] = Field(default_factory=_content_modalities, min_length=1)
    text_dim: int = Field(384, ge=1)
    image_dim: int = Field(1280, ge=1)
    num_items: int = Field(0, ge=0, description="size of the ID embedding table (IDs on only)")
    id_init: Literal["random", "content"] = Field(
        "random",
        description="ID table start: N(0, 0.02) or the items' raw content reduced by PCA to dim (same scale); "
        "items without training events keep their start, so with 'content' a new item scores by its content",
    )
    projection_hidden: int = Field(0, ge=0, description="0: linear projection; >0: one hidden layer")
    feature_dropout: dict[Literal["text", "image"], float] = Field(
        default_factory=dict, description="training-time dropout on each modality's encoder features (0: none)"
    )
    impute_missing: bool = Field(
        False, description="a missing text or image vector is predicted from the item's other modality"
    )
    interactive_moe: bool = True
    moe_experts: int = Field(4, ge=1)
    temporal_moe: bool = True
    temporal_experts: int = Field(4, ge=1)
    interval_scale: float = Field(4.0, gt=0, description="s in floor(s*log2(dt_seconds+1))")
    interval_buckets: int = Field(128, ge=2)
    request_gap: bool = True
    time_intervals: bool = Field(
        True,
        description="temporal MoE: route on the gap since the previous event; false gives every position the same "
        "interval bucket (time ablation: intervals zeroed)",
    )
    time_absolute: bool = Field(
        True,
        description="temporal MoE: route on the calendar phases of each event; false feeds zeros (time ablation)",
    )
    layers: int = Field(2, ge=1)
    heads: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    max_len: int = Field(50, ge=1)
    cross_domain: bool = False
    num_domains: int = Field(1, ge=1)
    simtier_bins: int = Field(0, ge=0, description="0: off; >0: SimTier similarity histogram re-ranking")
    item_residual: bool = Field(
        False,
        description="dual-path items: content vector + a per-item trainable residual that only items with training "
        "events have (zero-initialised; a new item is its content vector alone)",
    )
    repeat_bias: bool = Field(
        False, description="learned score term for items already in the history, by time since that event"
    )
    repeat_bias_scale: float = Field(
        10.0,
        gt=0,
        description="the repeat bias is this times its table: Adam moves a weight by about lr per step, and the "
        "bias must be able to travel several logits in a few hundred steps",
    )

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modalities: duplicates in {self.modalities}")
        if any(not 0.0 <= p < 1.0 for p in self.feature_dropout.values()):
            raise ValueError(f"feature_dropout: rates must be in [0, 1), got {self.feature_dropout}")
        if self.dim % self.heads:
            raise ValueError(f"heads: dim {self.dim} is not divisible by {self.heads} heads")
        return self

    @property
    def id_free(self) -> bool:
        """True when items are represented by their content only (new items are scorable)."""
        return "id" not in self.modalities

    @property
    def user_dim(self) -> int:
        """Length of user and item vectors (one d-slice per modality)."""
        return self.dim * len(self.modalities)
