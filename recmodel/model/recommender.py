"""The recommender: modality projections → interactive MoE → temporal MoE → per-modality causal transformers.

Score(user, item) = sum_m s_m · c_m(item): the user vector is the concatenation of the per-modality states
s_m at the last position and the item vector the concatenation of the item's projected modality vectors c_m.
With ``repeat_bias`` on, items already in the history also get a learned term that depends on the time since
their event (:mod:`recmodel.model.repeat_bias`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from recmodel.model.attention import SequenceEncoder
from recmodel.model.config import ModelConfig
from recmodel.model.dropout import FastDropout
from recmodel.model.modality import FeatureProjection
from recmodel.model.moe import InteractiveMoE, TemporalMoE, TimeEmbedding
from recmodel.model.repeat_bias import RepeatBias
from recmodel.model.simtier import SimTier
from recmodel.model.temporal import (
    FIRST_BUCKET,
    PAD_BUCKET,
    absolute_time_features,
    interval_buckets,
    log_bucket,
    num_bucket_embeddings,
)


@dataclass
class ItemInputs:
    """Raw item content for a set of items (any leading shape): encoder outputs, presence masks, optional ids."""

    text: torch.Tensor  # (..., text_dim)
    image: torch.Tensor  # (..., image_dim)
    has_text: torch.Tensor  # (...) bool
    has_image: torch.Tensor  # (...) bool
    index: torch.Tensor | None = None  # (...) long catalogue index (ID modality only)

    def without(self, modality: str) -> ItemInputs:
        """A copy with one content modality ('text' or 'image') marked absent for every item."""
        return replace(self, **{f"has_{modality}": torch.zeros_like(self.has_text)})


@dataclass
class SequenceInputs:
    """Right-padded histories: times in ms, validity mask, the request time of each position's prediction."""

    times_ms: torch.Tensor  # (B, L) int64
    mask: torch.Tensor  # (B, L) bool
    request_ms: torch.Tensor  # (B, L) int64: when the prediction made after position j is requested
    domains: torch.Tensor | None = None  # (B, L) long
    target_domains: torch.Tensor | None = None  # (B, L) long

    def select(self, rows: slice | torch.Tensor) -> SequenceInputs:
        """The sequences ``rows`` (a slice or indices) of this batch."""
        return SequenceInputs(
            times_ms=self.times_ms[rows],
            mask=self.mask[rows],
            request_ms=self.request_ms[rows],
            domains=None if self.domains is None else self.domains[rows],
            target_domains=None if self.target_domains is None else self.target_domains[rows],
        )


def request_times(times_ms: torch.Tensor, lengths: torch.Tensor, request_ms: torch.Tensor) -> torch.Tensor:
    """Per-position request time: the next event's time inside the history, ``request_ms`` after the last."""
    out = torch.empty_like(times_ms)
    out[:, :-1] = times_ms[:, 1:]
    out[:, -1] = request_ms
    positions = torch.arange(times_ms.shape[1], device=times_ms.device).unsqueeze(0)
    return torch.where(positions >= (lengths - 1).unsqueeze(1), request_ms.unsqueeze(1), out)


class Recommender(nn.Module):
    """Time-aware multimodal MoE sequential recommender (docs/model.md); ID-free unless 'id' is a modality."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if "id" in cfg.modalities and cfg.num_items < 1:
            raise ValueError("num_items: must be >= 1 when the 'id' modality is on")
        self.cfg = cfg
        d, m = cfg.dim, len(cfg.modalities)
        self.projections = nn.ModuleDict()
        if "text" in cfg.modalities:
            self.projections["text"] = FeatureProjection(
                cfg.text_dim, d, cfg.projection_hidden, cfg.feature_dropout.get("text", 0.0)
            )
        if "image" in cfg.modalities:
            self.projections["image"] = FeatureProjection(
                cfg.image_dim, d, cfg.projection_hidden, cfg.feature_dropout.get("image", 0.0)
            )
        both = "text" in cfg.modalities and "image" in cfg.modalities
        self.imputers = (
            nn.ModuleDict({m: nn.Linear(d, d) for m in ("text", "image")}) if cfg.impute_missing and both else None
        )
        if cfg.item_residual and cfg.num_items < 1:
            raise ValueError("num_items: must be >= 1 when item_residual is on")
        self.residual = nn.Embedding(cfg.num_items, m * d) if cfg.item_residual else None
        if self.residual is not None:
            nn.init.zeros_(self.residual.weight)
        self.id_embedding = nn.Embedding(cfg.num_items, d) if "id" in cfg.modalities else None
        if self.id_embedding is not None:
            nn.init.normal_(self.id_embedding.weight, std=0.02)
        self.position = nn.Embedding(cfg.max_len, d)
        nn.init.normal_(self.position.weight, std=0.02)
        self.input_dropout = FastDropout(cfg.dropout)
        self.interactive = InteractiveMoE(m, d, cfg.moe_experts) if cfg.interactive_moe and m > 1 else None
        self.time_embedding = TimeEmbedding(d, cfg.interval_buckets) if cfg.temporal_moe else None
        self.temporal = TemporalMoE(m * d, 2 * d, cfg.temporal_experts) if cfg.temporal_moe else None
        self.encoders = nn.ModuleList(
            SequenceEncoder(d, cfg.heads, cfg.layers, cfg.dropout, cfg.cross_domain) for _ in cfg.modalities
        )
        self.gap_embedding: nn.Embedding | None
        self.domain_query: nn.Embedding | None
        if cfg.request_gap:
            self.gap_embedding = nn.Embedding(num_bucket_embeddings(cfg.interval_buckets), m * d)
            nn.init.zeros_(self.gap_embedding.weight)
        else:
            self.gap_embedding = None
        if cfg.cross_domain:
            self.domain_query = nn.Embedding(cfg.num_domains, m * d)
            nn.init.zeros_(self.domain_query.weight)
        else:
            self.domain_query = None
        self.simtier = SimTier(cfg.simtier_bins, 2) if cfg.simtier_bins else None
        self.repeat_bias = (
            RepeatBias(cfg.interval_scale, cfg.interval_buckets, cfg.repeat_bias_scale) if cfg.repeat_bias else None
        )

    @property
    def modalities(self) -> list[str]:
        return list(self.cfg.modalities)

    def item_vectors(self, items: ItemInputs, residual_keep: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per-modality item vectors c_m (..., d) from content (and ids when the ID modality is on).

        A missing modality is its learned absent vector, or with ``impute_missing`` a prediction from the item's
        other modality when that one is present. With ``item_residual`` each item with an index adds its residual
        where ``residual_keep`` (same leading shape, bool) is true (everywhere when None); an index of -1 means
        an item the model never trained on (no residual).
        """
        vectors: dict[str, torch.Tensor] = {}
        for name in self.cfg.modalities:
            if name == "text":
                vectors[name] = self.projections["text"](items.text, items.has_text)
            elif name == "image":
                vectors[name] = self.projections["image"](items.image, items.has_image)
            else:
                if items.index is None or self.id_embedding is None:
                    raise ValueError("index: item indices are required by the 'id' modality")
                vectors[name] = self.id_embedding(items.index)
        if self.imputers is not None:
            text, image = vectors["text"], vectors["image"]
            only_text = (items.has_text & ~items.has_image).unsqueeze(-1)
            only_image = (items.has_image & ~items.has_text).unsqueeze(-1)
            vectors["image"] = torch.where(only_text, self.imputers["image"](text), image)
            vectors["text"] = torch.where(only_image, self.imputers["text"](image), text)
        out = [vectors[name] for name in self.cfg.modalities]
        if self.residual is not None and items.index is not None:
            known = items.index >= 0
            if residual_keep is not None:
                known = known & residual_keep
            extra = self.residual(items.index.clamp(min=0)) * known.unsqueeze(-1)
            out = [v + r for v, r in zip(out, extra.split(self.cfg.dim, dim=-1), strict=True)]
        return out

    def catalogue_vectors(self, table: ItemInputs, trained: torch.Tensor | None) -> list[torch.Tensor]:
        """Per-modality vectors (N, d) of a whole catalogue as it is scored: :meth:`item_vectors`, with the
        residual (``item_residual``) only on the ``trained`` (N,) bool rows, as a service does for new items."""
        return self.item_vectors(table, residual_keep=trained)

    def missing_vector(self, name: str, other: torch.Tensor | None) -> torch.Tensor:
        """What stands in for modality ``name`` when it is missing: imputed from ``other`` (the other content
        modality's vectors, (..., d)) with ``impute_missing``, else the learned absent vector (d,)."""
        if self.imputers is not None and other is not None:
            return self.imputers[name](other)
        projection = self.projections[name]
        assert isinstance(projection, FeatureProjection)  # projections holds only FeatureProjection modules
        return projection.absent

    def time_features(self, seq: SequenceInputs) -> torch.Tensor:
        """(B, L, 2d) embedding of interval buckets and absolute-time phases (temporal MoE on only)."""
        if self.time_embedding is None:
            raise RuntimeError("time_features: the temporal MoE is off in this model")
        if self.cfg.time_intervals:
            intervals = interval_buckets(seq.times_ms, seq.mask, self.cfg.interval_scale, self.cfg.interval_buckets)
        else:  # time ablation: every valid position looks like a sequence start
            intervals = torch.where(seq.mask, FIRST_BUCKET, PAD_BUCKET).long()
        absolute = absolute_time_features(seq.times_ms)
        if not self.cfg.time_absolute:  # time ablation: no calendar phases
            absolute = torch.zeros_like(absolute)
        return self.time_embedding(intervals, absolute)

    def encode(
        self,
        history: list[torch.Tensor],
        seq: SequenceInputs,
        replace: torch.Tensor | None = None,
        replacement: torch.Tensor | None = None,
        with_request_terms: bool = True,
    ) -> list[torch.Tensor]:
        """Per-modality states (B, L, d) for each position, given history item vectors c_m (B, L, d).

        ``replace`` (B, L) bool with ``replacement`` (B, L, M*d) substitutes positions' inputs (placeholders).
        ``with_request_terms=False`` leaves out :meth:`request_terms` (states that depend on the history only).
        """
        d = self.cfg.dim
        length = seq.mask.shape[1]
        if length > self.cfg.max_len:
            raise ValueError(f"history: length {length} exceeds max_len {self.cfg.max_len}")
        xs = list(history)
        if replace is not None and replacement is not None:
            xs = [
                torch.where(replace.unsqueeze(-1), replacement[..., i * d : (i + 1) * d], x) for i, x in enumerate(xs)
            ]
        pos = self.position(torch.arange(length, device=seq.mask.device)).unsqueeze(0)
        xs = [self.input_dropout(x + pos) for x in xs]
        if self.interactive is not None:
            xs = self.interactive(xs)
        if self.temporal is not None:
            z = self.temporal(torch.cat(xs, dim=-1), self.time_features(seq))
            xs = list(z.split(d, dim=-1))
        domains = seq.domains if self.cfg.cross_domain else None
        states = torch.cat([enc(x, seq.mask, domains) for enc, x in zip(self.encoders, xs, strict=True)], -1)
        terms = self.request_terms(seq) if with_request_terms else None
        return list((states if terms is None else states + terms).split(d, dim=-1))

    def request_terms(self, seq: SequenceInputs) -> torch.Tensor | None:
        """(..., M*d) what each prediction adds for its request: the gap-since-last-event embedding and the
        target-domain query (None when the model has neither). Everything else depends on the history alone,
        so a service may cache a history's state and add these per request."""
        out = None
        if self.gap_embedding is not None:
            gap = log_bucket(seq.request_ms - seq.times_ms, self.cfg.interval_scale, self.cfg.interval_buckets)
            out = self.gap_embedding(gap)
        if self.domain_query is not None and seq.target_domains is not None:
            query = self.domain_query(seq.target_domains)
            out = query if out is None else out + query
        return out

    @staticmethod
    def last_state(states: list[torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
        """(B, M*d) user vectors: the concatenated states at each sequence's last valid position."""
        idx = (lengths - 1).view(-1, 1, 1)
        return torch.cat([s.gather(1, idx.expand(-1, 1, s.shape[-1])).squeeze(1) for s in states], dim=-1)

    def simtier_scores(self, history: ItemInputs, mask: torch.Tensor, candidates: ItemInputs) -> torch.Tensor:
        """(B, N) SimTier re-ranking term from raw text/image features of history (B, L) and candidates (N)."""
        if self.simtier is None:
            raise RuntimeError("simtier_scores: SimTier is off in this model (simtier_bins = 0)")
        return self.simtier(
            [history.text, history.image],
            [mask & history.has_text, mask & history.has_image],
            [candidates.text, candidates.image],
            [candidates.has_text, candidates.has_image],
        )


def gather_items(table: ItemInputs, index: torch.Tensor) -> ItemInputs:
    """Rows of a catalogue-wide ItemInputs at ``index`` (any shape)."""
    return ItemInputs(
        text=table.text[index],
        image=table.image[index],
        has_text=table.has_text[index],
        has_image=table.has_image[index],
        index=index,
    )
