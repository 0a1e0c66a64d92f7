"""Experiment configuration: YAML files (optionally ``extends:`` another file) loaded into typed models."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from recmodel.data.source import DatasetConfig
from recmodel.model.config import ModelConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    dataset: DatasetConfig = Field(
        DatasetConfig(),
        description="how the data is read (recmodel.data.source; 'ml100k-mm' is short for {format: ml100k-mm}); "
        "the files come from --data / --events / --items",
    )
    max_len: int = Field(50, ge=1)
    cold_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    split_seed: int = 0
    cold_by: Literal["random", "time"] = Field(
        "random", description="cold items: a random fraction (seeded by split_seed) or the newest by first event"
    )
    genre_domains: bool = Field(False, description="events carry the documented two-domain genre split")
    user_limit: int = Field(0, ge=0, description="0: all users; >0: first N users (tests, smoke runs)")
    time_shuffle: bool = Field(
        False,
        description="time ablation: each user's gaps between consecutive events permuted before splitting (order "
        "kept; recmodel.data.time_ablation)",
    )
    image_fraction: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="patchy-catalogue check: only this share of the items that have an image keep it (a random "
        "subset seeded by split_seed); the others lose it for training and test alike (Catalogue.with_images_on)",
    )


class Term(_Strict):
    enabled: bool = True
    weight: float = Field(1.0, ge=0.0)
    temperature: float = Field(0.1, gt=0.0)


class MaskedTerm(Term):
    ratio: float = Field(0.3, gt=0.0, lt=1.0, description="fraction of positions masked or replaced")


class ContentContest(Term):
    """Defaults of the content-contest loss (off unless enabled)."""

    enabled: bool = False
    weight: float = Field(0.5, ge=0.0)
    temperature: float = Field(1.0, gt=0.0)


FULL_SOFTMAX_MAX_ITEMS = 10_000


class LossConfig(_Strict):
    softmax: Literal["auto", "full", "sampled"] = Field(
        "auto",
        description="next-item softmax: 'full' scores the whole catalogue every step (exact; cost grows with the "
        "catalogue); 'sampled' scores each position's positive against sampled_negatives shared negatives with the "
        "logQ correction and embeds only the items the step touches (recmodel.training.sampling); 'auto' is full up "
        "to full_softmax_max_items catalogue items and sampled above (docs/model.md, Training)",
    )
    full_softmax_max_items: int = Field(
        FULL_SOFTMAX_MAX_ITEMS,
        ge=0,
        description="softmax 'auto': the largest catalogue (items, cold ones included) still trained with the full "
        "softmax (reports/bench/training.json: seconds per epoch against catalogue size)",
    )
    sampled_negatives: int = Field(512, ge=1, description="sampled softmax: negatives per step, shared by the batch")
    sampled_proposal: Literal["popularity", "uniform", "mixed"] = Field(
        "popularity",
        description="sampled softmax: negatives drawn in proportion to training frequency, uniformly from the "
        "training items, or from the half-and-half mixture of the two (any way corrected by log(K q))",
    )
    sampled_row_adam: bool = Field(
        True,
        description="sampled softmax: each per-item table row's Adam second moment is scaled by how often the row "
        "is among a step's candidates, so a row the sampler draws one step in p moves as far as under the full "
        "softmax instead of sqrt(p) as far (recmodel/training/optim.py)",
    )
    popularity_correction: float = Field(
        0.0, ge=0.0, le=1.0, description="full softmax: subtract this times log(item frequency) from training logits"
    )
    nicl: Term = Term(enabled=True, weight=0.1, temperature=0.1)
    placeholder: MaskedTerm = MaskedTerm(enabled=True, weight=0.1, temperature=1.0, ratio=0.3)
    id_contrastive: Term = Term(enabled=True, weight=0.1, temperature=0.2)
    noisy: MaskedTerm = MaskedTerm(enabled=True, weight=0.1, temperature=0.2, ratio=0.2)
    balance: Term = Term(enabled=True, weight=0.3, temperature=1.0)
    distill: Term = Field(
        Term(enabled=False, weight=1.0, temperature=1.0),
        description="self-distillation: the model with every image absent (each imputed from its text) learns the "
        "full model's detached next-item distribution (KL at temperature T, scaled by T²)",
    )
    residual_dropout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="model.item_residual: per-step share of items scored without their residual, as new items are "
        "(DropoutNet-style), so the content path alone must rank well",
    )
    content_contest: ContentContest = Field(
        default_factory=lambda: ContentContest(),
        description="model.item_residual: a second next-item softmax in which every item is scored by its content "
        "vector alone (no residual), as new items compete with each other; logits divided by the temperature",
    )
    modality_dropout: float = Field(0.1, ge=0.0, lt=1.0, description="per-position chance to drop a modality")
    step_modality_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="per-step chance to drop one content modality from every item"
    )

    def resolved_softmax(self, num_items: int) -> Literal["full", "sampled"]:
        """The softmax a catalogue of ``num_items`` items trains with ('auto' resolved)."""
        if self.softmax == "auto":
            return "full" if num_items <= self.full_softmax_max_items else "sampled"
        return self.softmax

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Dumps leave out the settings added later (sampled softmax, content contest) while they hold their
        defaults, so configs written before them (and run caches keyed by the dump, recmodel.evaluate) keep their
        keys."""
        data = handler(self)
        for key in _LATER_DEFAULTS:
            if key in data and getattr(self, key) == type(self).model_fields[key].get_default(
                call_default_factory=True
            ):
                del data[key]
        if self.sampled_row_adam and self.softmax != "sampled":  # keyed only where it is known to apply
            data.pop("sampled_row_adam", None)
        return data


_LATER_DEFAULTS = ("full_softmax_max_items", "sampled_proposal", "content_contest")


def _mean_only() -> list[Literal["mean", "max"]]:
    return ["mean"]


class TrainConfig(_Strict):
    seed: int = 0
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="cosine: linear warm-up, then cosine decay to 0 at the last epoch"
    )
    warmup_epochs: float = Field(1.0, ge=0, description="cosine schedule: epochs of linear warm-up")
    patience: int = Field(5, ge=1, description="epochs without validation NDCG@20 gain before stopping")
    ema_decay: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="per-step exponential moving average of the weights, used for validation, early stopping and "
        "the artifact; 0 = off (the raw weights)",
    )
    new_item_boost_max_cost: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="after training, raise items without training events by the largest new-item boost whose "
        "validation warm NDCG@10 cost stays within this fraction (recmodel.model.new_item_boost); 0 = no boost",
    )
    new_item_boost_max_image_free_cost: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="the new-item boost must also keep validation warm NDCG@10 with every image absent within "
        "this fraction of its unboosted value (the image-free fallback stays usable); 0 = not checked",
    )
    new_item_content_dims: int = Field(
        0,
        ge=0,
        description="new-item content channel (recmodel.model.content_channel): code size r; 0 = off. Its weight and "
        "profile length are chosen on validation cold targets ranked among the new items",
    )
    new_item_content_aggregates: list[Literal["mean", "max"]] = Field(
        default_factory=_mean_only,
        min_length=1,
        description="match aggregates the content channel's selection may choose from: 'mean' (the user's mean "
        "recent code, a dot product) and/or 'max' (the closest recent item; scored exactly for new items)",
    )
    select_masked: bool = Field(
        False,
        description="choose the best epoch on validation with the user's history masked from the ranking (as the "
        "masked evaluation protocol scores it); false: history unmasked",
    )
    eval_every: int = Field(1, ge=1)
    threads: int = Field(0, ge=0, description="torch threads per process; 0 = leave torch's default")
    progress: bool = True


class ExperimentConfig(_Strict):
    """Everything ``python -m recmodel.train`` needs besides paths."""

    name: str = "full"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _check_combination(self) -> ExperimentConfig:
        if self.model.simtier_bins and self.loss.softmax == "sampled":
            raise ValueError("model.simtier_bins: SimTier ranks the whole catalogue; it needs loss.softmax 'full'")
        return self


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_raw(path: Path) -> dict[str, Any]:
    """YAML mapping with ``extends: other.yaml`` (relative to the file) deep-merged underneath."""
    if not path.exists():
        raise FileNotFoundError(f"config: {path} not found")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"config: {path} must hold a mapping")
    parent = raw.pop("extends", None)
    return _merge(load_raw(path.parent / parent), raw) if parent else raw


def load_experiment(path: Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Load and validate an experiment config; errors name the offending field."""
    raw = _merge(load_raw(path), overrides or {})
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"config {path}: {exc}") from exc
