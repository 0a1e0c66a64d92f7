"""Loss functions: full / sampled (logQ-corrected) softmax, InfoNCE and CKD-style modality balancing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recmodel.training.sampling import StepItems


def full_softmax_ce(logits: torch.Tensor, targets: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over the whole catalogue; items where ``allowed`` is False are excluded from the softmax."""
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    return F.cross_entropy(logits, targets)


def sampled_softmax_ce(
    users: torch.Tensor,
    items: torch.Tensor,
    targets: torch.Tensor,
    proposal: torch.Tensor,
    num_negatives: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Softmax over the positive plus shared negatives drawn from ``proposal`` (N,), with logQ correction
    (:mod:`recmodel.training.sampling`): each negative's logit is reduced by log(num_negatives * q(item)), negatives
    equal to the positive are masked, the positive's logit is left as it is. ``items`` (N, D) holds the whole
    catalogue's vectors for convenience; the training objective embeds only the step's candidates.
    """
    step = StepItems.draw([targets], proposal, num_negatives, generator=generator)
    logits = step.corrected(step.scores(users, items[step.candidates], targets), targets)
    return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=users.device))


def info_nce(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    temperature: float,
    same: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE with in-batch negatives on L2-normalised vectors; row i's positive is positives[i].

    ``same`` (P, P) bool marks off-diagonal pairs that are not true negatives (e.g. the same item); they are
    removed from the denominator.
    """
    a = F.normalize(anchors, dim=-1)
    p = F.normalize(positives, dim=-1)
    logits = a @ p.T / temperature
    if same is not None:
        eye = torch.eye(len(a), dtype=torch.bool, device=a.device)
        logits = logits.masked_fill(same & ~eye, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


def modality_contributions(per_modality: list[torch.Tensor], targets: torch.Tensor, allowed: torch.Tensor | None):
    """Counterfactual contribution of each modality (P, M): the drop of the positive's score margin over the
    average catalogue item when that modality's item vectors are replaced by their catalogue mean.

    With score = sum_m s_m·c_m, replacing c_m by its mean turns modality m's term into the same constant for
    every item, so the drop equals s_m·c_m(pos) - mean_items(s_m·c_m).
    """
    cols = []
    for logits in per_modality:
        pos = logits.gather(1, targets.unsqueeze(1)).squeeze(1)
        mean = logits[:, allowed].mean(1) if allowed is not None else logits.mean(1)
        cols.append(pos - mean)
    return torch.stack(cols, dim=1)


def balance_loss(
    per_modality: list[torch.Tensor],
    targets: torch.Tensor,
    allowed: torch.Tensor | None,
    temperature: float,
    contributions: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CKD-style balancing: per-modality softmax CE, each sample weighted towards its weaker modality.

    Weights are softmax(-contribution / temperature) over modalities (detached, scaled to mean 1); the
    contributions are :func:`modality_contributions` unless given (the sampled softmax estimates its own).
    Returns (loss, contributions (P, M)).
    """
    if contributions is None:
        contributions = modality_contributions(per_modality, targets, allowed)
    contrib = contributions.detach()
    weights = torch.softmax(-contrib / temperature, dim=1) * len(per_modality)
    losses = []
    for logits in per_modality:
        masked = logits.masked_fill(~allowed, float("-inf")) if allowed is not None else logits
        losses.append(F.cross_entropy(masked, targets, reduction="none"))
    return (torch.stack(losses, dim=1) * weights).sum(1).mean(), contrib
