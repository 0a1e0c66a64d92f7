"""Sampled softmax for large catalogues: shared negatives, the logQ correction and the items a step must embed.

One step draws K negatives from a proposal q over the training items (popularity or uniform), shared by every
position of the batch. A position's logits are its positive's score s_y and the negatives' scores corrected by
the log of their expected count, s_k - log(K q_k); a negative equal to the position's positive (an accidental
hit) is masked. The denominator exp(s_y) + sum_k exp(s_k) / (K q_k) [k not y] is then an unbiased estimate of the
full softmax's partition function sum_i exp(s_i), and the loss's gradient tends to the full softmax's as K grows.
(The positive is not corrected: with accidental hits masked, correcting it as well weights the positive by
p_y / (K q_y) instead of p_y, a bias that does not shrink with K; see tests/model/test_sampled_softmax.py.)

Only the items the step touches are embedded (:class:`StepItems`): the batch's history items and targets, the
negatives and the noisy-item loss's random replacements, never the whole catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from recmodel.model.recommender import ItemInputs, gather_items


@dataclass
class StepItems:
    """The catalogue rows one sampled-softmax step embeds, and its shared negatives."""

    candidates: torch.Tensor  # (S,) sorted unique catalogue indices whose vectors the step computes
    negatives: torch.Tensor  # (K,) catalogue indices, drawn with replacement from the proposal
    log_expected: torch.Tensor  # (K,) log(K * q(negative))
    noise: torch.Tensor | None = None  # (b, L) random training items for the noisy-item loss, or None

    @classmethod
    def draw(
        cls,
        item_batches: list[torch.Tensor],
        proposal: torch.Tensor,
        num_negatives: int,
        noise_pool: torch.Tensor | None = None,
        noise_shape: tuple[int, ...] | None = None,
        generator: torch.Generator | None = None,
    ) -> StepItems:
        """Draw the negatives (and ``noise_shape`` random items of ``noise_pool``) and collect the candidates:
        every index in ``item_batches`` (the history items and targets), the negatives and the noise items."""
        negatives = torch.multinomial(proposal, num_negatives, replacement=True, generator=generator)
        log_expected = torch.log(proposal[negatives] * num_negatives)
        noise = None
        if noise_pool is not None and noise_shape is not None and len(noise_pool):
            noise = noise_pool[torch.randint(len(noise_pool), noise_shape, generator=generator)]
        parts = [b.reshape(-1) for b in item_batches] + [negatives] + ([] if noise is None else [noise.reshape(-1)])
        return cls(torch.unique(torch.cat(parts)), negatives, log_expected, noise)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Positions in :attr:`candidates` of catalogue indices ``index`` (any shape; each must be a candidate)."""
        return torch.searchsorted(self.candidates, index)

    def inputs(self, catalogue: ItemInputs) -> ItemInputs:
        """The candidates' rows of a catalogue-wide table (their ``index`` stays the catalogue index)."""
        return gather_items(catalogue, self.candidates)

    def scores(self, users: torch.Tensor, items: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(P, 1 + K) raw scores: column 0 each position's positive, then the shared negatives. ``users`` (P, D),
        ``items`` (S, D) candidate vectors, ``targets`` (P,) catalogue indices."""
        pos = (users * items[self.rows(targets)]).sum(-1, keepdim=True)
        return torch.cat([pos, users @ items[self.rows(self.negatives)].T], dim=1)

    def hits(self, targets: torch.Tensor) -> torch.Tensor:
        """(P, 1 + K) bool: negatives equal to the position's positive (column 0 is never a hit)."""
        hit = self.negatives.unsqueeze(0) == targets.unsqueeze(1)
        return torch.cat([torch.zeros_like(hit[:, :1]), hit], dim=1)

    def corrected(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Sampled-softmax logits: negatives minus log(K q), accidental hits masked, the positive as it is."""
        shift = torch.cat([torch.zeros(1, dtype=scores.dtype), self.log_expected.to(scores.dtype)])
        return (scores - shift).masked_fill(self.hits(targets), float("-inf"))

    def column_items(self, targets: torch.Tensor) -> torch.Tensor:
        """(P, 1 + K) the catalogue index behind every column."""
        return torch.cat([targets.unsqueeze(1), self.negatives.expand(len(targets), -1)], dim=1)

    def contributions(self, per_modality: list[torch.Tensor]) -> torch.Tensor:
        """(P, M) sampled counterpart of :func:`recmodel.training.losses.modality_contributions`: the positive's
        raw score minus the catalogue mean, estimated from the negatives with importance weights 1 / q."""
        weights = torch.exp(-self.log_expected)
        weights = weights / weights.sum()
        return torch.stack([s[:, 0] - s[:, 1:] @ weights for s in per_modality], dim=1)

    def repeat_bias(self, items: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(P, 1 + K) the repeat bias of every column: ``bias`` (P, L) of the history items ``items`` (P, L)
        summed onto the columns showing the same item (0 for columns whose item is not in the history)."""
        pos = (bias * (items == targets.unsqueeze(1))).sum(1, keepdim=True)
        unique, inverse = torch.unique(self.negatives, return_inverse=True)
        slot = torch.searchsorted(unique, items).clamp(max=len(unique) - 1)
        found = torch.where(unique[slot] == items, bias, torch.zeros((), dtype=bias.dtype))
        per_unique = torch.zeros(len(items), len(unique), dtype=bias.dtype).scatter_add(1, slot, found)
        return torch.cat([pos, per_unique[:, inverse]], dim=1)
