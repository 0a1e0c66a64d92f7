"""How the item index scores: exact matmul for small catalogues, ANN shortlist + exact re-scoring above."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class IndexConfig(BaseModel):
    """Index tuning; the ranker builds it from its KAIROS_RANKER_INDEX_* settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exact_max_items: int = Field(200_000, ge=0, description="Catalogues up to this size are scored exactly.")
    exact_prefilter: Literal["auto", "off", "bfloat16"] = Field(
        "auto",
        description="Exact scoring: a bfloat16 first pass whose shortlist is re-scored in float32; 'auto': on "
        "when the CPU has native bfloat16 (AVX512-BF16/AMX), 'off': float32 only.",
    )
    exact_prefilter_shortlist: int = Field(
        64, ge=1, description="Candidates per query the bfloat16 pass keeps (at least 2 x k)."
    )
    ann_kind: Literal["ivf_flat", "ivf_sq8"] = Field("ivf_flat", description="FAISS inner-product index kind.")
    ann_nlist: int = Field(0, ge=0, description="IVF lists; 0 = about sqrt(N).")
    ann_nprobe: int = Field(32, ge=1, description="IVF lists visited per query.")
    ann_shortlist: int = Field(512, ge=1, description="ANN candidates per query, re-scored exactly.")
    ann_train_sample: int = Field(100_000, ge=1000, description="Most vectors used to train the IVF quantiser.")
    compact_ratio: float = Field(0.5, gt=0, le=1, description="Compact when this share of rows is deleted.")
