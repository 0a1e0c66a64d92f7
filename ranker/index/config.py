"""How the item index scores: exact matmul for small catalogues, ANN shortlist + exact re-scoring above."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class IndexConfig(BaseModel):
    """Index tuning; the ranker builds it from its KAIROS_RANKER_INDEX_* settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exact_max_items: int = Field(200_000, ge=0, description="Catalogues up to this size are scored exactly.")
    ann_kind: Literal["ivf_flat", "ivf_sq8"] = Field("ivf_flat", description="FAISS inner-product index kind.")
    ann_nlist: int = Field(0, ge=0, description="IVF lists; 0 = about sqrt(N).")
    ann_nprobe: int = Field(32, ge=1, description="IVF lists visited per query.")
    ann_shortlist: int = Field(512, ge=1, description="ANN candidates per query, re-scored exactly.")
    ann_train_sample: int = Field(100_000, ge=1000, description="Most vectors used to train the IVF quantiser.")
    compact_ratio: float = Field(0.5, gt=0, le=1, description="Compact when this share of rows is deleted.")
