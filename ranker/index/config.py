"""How the item index scores: exact matmul for small catalogues, ANN shortlist + exact re-scoring above."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class IndexConfig(BaseModel):
    """Index tuning; the ranker nests it as `index` (KAIROS_RANKER_INDEX__<NAME>)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exact_max_items: int = Field(200_000, ge=0, description="Catalogues up to this size are scored exactly.")
    exact_prefilter: Literal["auto", "off", "bfloat16", "int8"] = Field(
        "auto",
        description="Exact scoring's first pass over every item, whose shortlist is re-scored in float32: 'int8' "
        "(int8 x int8 matmul, one scale per item and per user; recall@10 1.000 vs float32 on the model's vectors); "
        "'bfloat16'; 'off' (float32 only: column-wise copy, block-maxima top-k); 'auto': on CPUs with int8 dot "
        "products (AVX512-VNNI/AVX-VNNI/AMX) both are timed on the index when it is built (20k items and up) and "
        "the faster is kept (int8 measured 2.0-2.7x faster at 100k items on one VNNI VM, 1.2-1.9x slower on "
        "another), else 'off' (int8 measured 0.5-0.9x as fast as float32 on AVX2 alone).",
    )
    exact_prefilter_shortlist: int = Field(
        32, ge=1, description="Candidates per query the first pass keeps for float32 re-scoring (at least 2 x k)."
    )
    ann_kind: Literal["ivf_flat", "ivf_sq8"] = Field(
        "ivf_flat",
        description="FAISS IVF kind (float32 or 8-bit lists) over the MIPS->L2 reduced item vectors "
        "(inner-product search as L2 search: one extra coordinate per item).",
    )
    ann_nlist: int = Field(
        0, ge=0, description="IVF lists; 0 = 4 x sqrt(N); at most one per 39 quantiser training vectors."
    )
    ann_nprobe: int = Field(
        48,
        ge=1,
        description="IVF lists visited per query (recall@10 vs exact at 1M bench items: 0.947 at 32, 0.967 at 48, "
        "0.984 at 64; 0.87 / 1.12 / 1.24 ms per user in a batch of 128).",
    )
    ann_shortlist: int = Field(128, ge=1, description="ANN candidates per query, re-scored exactly.")
    ann_train_sample: int = Field(100_000, ge=1000, description="Most vectors used to train the IVF quantiser.")
    ann_norm_headroom: float = Field(
        1.25,
        ge=1,
        description="MIPS->L2 norm bound: this x the largest item norm when the ANN is trained (the longest "
        "ann_overflow_max / 4 items left out).",
    )
    ann_overflow_max: int = Field(
        512,
        ge=0,
        description="Items upserted above the norm bound are scored with every query; more than this retrains.",
    )
    filter_exact_max: int = Field(
        20_000,
        ge=0,
        description="On the ANN path, a filtered query with at most this many eligible items is scored exactly over "
        "them; broader filters over-fetch from the ANN (by total / eligible) and fall back to exact scoring of the "
        "eligible items when fewer than k survive.",
    )
    filter_overfetch_max: int = Field(
        4096, ge=1, description="Most ANN candidates a filtered query asks for before it is scored exactly instead."
    )
    compact_ratio: float = Field(0.5, gt=0, le=1, description="Compact when this share of rows is deleted.")
