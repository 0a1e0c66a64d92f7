"""All training objectives of one step, wrapped in one module so DDP sees a single forward."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from recmodel.data.batches import Batch
from recmodel.model.recommender import ItemInputs, Recommender, gather_items
from recmodel.model.repeat_bias import add_repeat_bias
from recmodel.training.config import LossConfig
from recmodel.training.losses import (
    balance_loss,
    full_softmax_ce,
    info_nce,
    modality_contributions,
)
from recmodel.training.sampling import StepItems

_MAX_CONTRAST = 512  # positions sampled for the item-level contrastive loss
_MAX_BALANCE = 2048  # positions sampled for the per-modality balancing losses
_AUX_SEQUENCES = 32  # sequences re-encoded (masked / corrupted) for the sequence-level contrastive losses


class TrainingObjective(nn.Module):
    """Next-item softmax plus the switchable auxiliary losses (PMMRec, HM4SR, CKD, noisy items, SimTier).

    With the full softmax every step embeds and scores the whole catalogue. With the sampled softmax
    (``loss.softmax: sampled``, or ``auto`` above ``loss.full_softmax_max_items``) a step embeds only the items it
    touches (:class:`~recmodel.training.sampling.StepItems`) and the losses that rank over the catalogue (next item,
    balancing, distillation) rank the positive against shared, logQ-corrected negatives instead.
    """

    def __init__(self, model: Recommender, cfg: LossConfig) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        width = model.cfg.user_dim
        self.placeholder = nn.Linear(2 * model.cfg.dim, width) if model.cfg.temporal_moe else None
        self.placeholder_vector = nn.Parameter(torch.zeros(width))
        self.noise_head = nn.Linear(width, 1)
        self.present_rows: torch.Tensor | None = None  # sampled softmax: the catalogue rows of the last step

    def forward(
        self, batch: Batch, catalogue: ItemInputs, allowed: torch.Tensor, proposal: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        model, cfg = self.model, self.cfg
        names = model.modalities
        mask = batch.seq.mask
        targets = batch.targets[mask]
        step = None
        if cfg.resolved_softmax(len(allowed)) == "sampled":
            if model.simtier is not None:
                raise ValueError("model.simtier_bins: SimTier ranks the whole catalogue; it needs loss.softmax 'full'")
            step = self._draw(batch, targets, allowed, proposal)
            catalogue = step.inputs(catalogue)  # only the items this step touches
        self.present_rows = None if step is None else step.candidates
        full_catalogue = catalogue
        rows = (lambda index: index) if step is None else step.rows  # catalogue index -> row of items_c
        catalogue = self._drop_catalogue_modality(catalogue, names)
        keep = None
        if self.training and cfg.residual_dropout > 0 and model.residual is not None:
            keep = torch.rand(len(allowed) if step is None else len(step.candidates)) >= cfg.residual_dropout
        items_c = model.item_vectors(catalogue, residual_keep=keep)  # per modality (N or S, d)
        history = self._drop_modalities([c[rows(batch.items)] for c in items_c], names)
        states = model.encode(history, batch.seq)
        users = [s[mask] for s in states]
        out: dict[str, torch.Tensor] = {}

        if step is None:
            per_modality = [u @ c.T for u, c in zip(users, items_c, strict=True)]
            logits = sum(per_modality)
            if model.repeat_bias is not None:
                logits = self._with_repeat_bias(logits, batch)
            if cfg.popularity_correction:
                logits = logits - cfg.popularity_correction * torch.log(proposal.clamp(min=1e-12))
            main = full_softmax_ce(logits, targets, allowed)
            rank_targets, rank_allowed = targets, allowed
        else:
            raw = [step.scores(u, c, targets) for u, c in zip(users, items_c, strict=True)]  # (P, 1 + K) each
            logits = sum(raw)
            if model.repeat_bias is not None:
                logits = logits + self._sampled_repeat_bias(batch, step, targets)
            if cfg.popularity_correction:
                log_p = torch.log(proposal[step.column_items(targets)].clamp(min=1e-12))
                logits = logits - cfg.popularity_correction * log_p
            zeros = torch.zeros(len(targets), dtype=torch.long)
            main = F.cross_entropy(step.corrected(logits, targets), zeros)
            per_modality = [step.corrected(r, targets) for r in raw]
            rank_targets, rank_allowed = zeros, None
        out["main"] = main
        total = main
        if cfg.content_contest.enabled and model.residual is not None:
            contest = self._content_contest(catalogue, users, targets, allowed, step)
            out["content_contest"] = contest
            total = total + cfg.content_contest.weight * contest

        if cfg.balance.enabled and len(names) > 1:
            pick = torch.randperm(len(targets))[:_MAX_BALANCE]
            given = None if step is None else step.contributions([r[pick] for r in raw])
            loss, contrib = balance_loss(
                [p[pick] for p in per_modality], rank_targets[pick], rank_allowed, cfg.balance.temperature, given
            )
            out["balance"] = loss
            out["contrib"] = contrib.mean(0)
            total = total + cfg.balance.weight * loss
        else:
            pick = torch.randperm(len(targets))[:_MAX_BALANCE]
            if step is None:
                contrib = modality_contributions([p[pick].detach() for p in per_modality], targets[pick], allowed)
            else:
                contrib = step.contributions([r[pick].detach() for r in raw])
            out["contrib"] = contrib.mean(0)

        if cfg.nicl.enabled and "text" in names and "image" in names:
            loss = self._nicl(batch, catalogue, items_c, names, rows)
            if loss is not None:
                out["nicl"] = loss
                total = total + cfg.nicl.weight * loss

        if cfg.distill.enabled and "image" in names and "text" in names and catalogue is full_catalogue:
            pick = torch.randperm(len(targets))[:_MAX_BALANCE]
            if step is None:
                loss = self._distill(batch, full_catalogue, sum(per_modality)[pick].detach(), pick, allowed)
            else:
                loss = self._sampled_distill(batch, full_catalogue, step, sum(raw)[pick].detach(), pick, targets)
            out["distill"] = loss
            total = total + cfg.distill.weight * loss

        clean_user = Recommender.last_state(states, batch.lengths)
        sub = slice(0, _AUX_SEQUENCES)
        sub_mask, sub_seq, sub_lengths = mask[sub], batch.seq.select(sub), batch.lengths[sub]
        sub_history = [h[sub] for h in history]
        if cfg.placeholder.enabled:
            replace = (torch.rand(sub_mask.shape) < cfg.placeholder.ratio) & sub_mask
            if self.placeholder is not None:
                replacement = self.placeholder(model.time_features(sub_seq))
            else:
                replacement = self.placeholder_vector.expand(*sub_mask.shape, -1)
            masked = Recommender.last_state(model.encode(sub_history, sub_seq, replace, replacement), sub_lengths)
            loss = info_nce(masked, clean_user[sub], cfg.placeholder.temperature)
            out["placeholder"] = loss
            total = total + cfg.placeholder.weight * loss

        if cfg.noisy.enabled:
            replaced = (torch.rand(sub_mask.shape) < cfg.noisy.ratio) & sub_mask
            if step is None:
                pool = torch.nonzero(allowed).squeeze(1)
                random_items = pool[torch.randint(len(pool), sub_mask.shape)]
            else:
                assert step.noise is not None  # drawn with the negatives
                random_items = step.noise
            noisy_items = torch.where(replaced, random_items, batch.items[sub])
            noisy_states = model.encode([c[rows(noisy_items)] for c in items_c], sub_seq)
            detect = self.noise_head(torch.cat(noisy_states, -1)).squeeze(-1)
            detect_loss = F.binary_cross_entropy_with_logits(detect[sub_mask], replaced[sub_mask].float())
            noisy_user = Recommender.last_state(noisy_states, sub_lengths)
            robust = info_nce(noisy_user, clean_user[sub], cfg.noisy.temperature)
            out["noisy"] = detect_loss + robust
            total = total + cfg.noisy.weight * out["noisy"]

        if cfg.id_contrastive.enabled and "id" in names and len(names) > 1:
            d = model.cfg.dim
            k = names.index("id")
            slices = clean_user.split(d, dim=-1)
            content = torch.stack([s for i, s in enumerate(slices) if i != k]).mean(0)
            loss = info_nce(slices[k], content, cfg.id_contrastive.temperature)
            out["id_contrastive"] = loss
            total = total + cfg.id_contrastive.weight * loss

        if model.simtier is not None:  # full softmax only (checked above)
            last = (batch.lengths - 1).unsqueeze(1)
            hist_raw = gather_items(catalogue, batch.items)
            logits = (clean_user @ torch.cat(items_c, -1).T) + model.simtier_scores(hist_raw, mask, catalogue)
            loss = full_softmax_ce(logits, batch.targets.gather(1, last).squeeze(1), allowed)
            out["simtier"] = loss
            total = total + loss

        out["loss"] = total
        return out

    def _draw(self, batch: Batch, targets: torch.Tensor, allowed: torch.Tensor, proposal: torch.Tensor) -> StepItems:
        """This step's negatives (from the training items' popularity, uniform over them, or half and half), the
        noisy-item loss's random items, and the catalogue rows the step embeds."""
        cfg = self.cfg
        uniform = allowed.float() / allowed.sum()
        q = {"popularity": proposal, "uniform": uniform, "mixed": 0.5 * (proposal + uniform)}[cfg.sampled_proposal]
        noise_shape = tuple(batch.items[:_AUX_SEQUENCES].shape) if cfg.noisy.enabled else None
        pool = torch.nonzero(allowed).squeeze(1) if cfg.noisy.enabled else None
        return StepItems.draw([batch.items, targets], q, cfg.sampled_negatives, pool, noise_shape)

    def _sampled_repeat_bias(self, batch: Batch, step: StepItems, targets: torch.Tensor) -> torch.Tensor:
        """(P, 1 + K) the repeat bias of the sampled columns (the positive and the negatives) at each position."""
        seq, mask = batch.seq, batch.seq.mask
        bias = self.model.repeat_bias.pair_bias(seq.times_ms, mask, seq.request_ms)  # (B, L, L)
        items = batch.items.unsqueeze(1).expand_as(bias)
        return step.repeat_bias(items[mask], bias[mask], targets)

    def _with_repeat_bias(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        """(P, N) logits of the valid positions plus each one's repeat bias on the items of its history prefix."""
        seq, mask = batch.seq, batch.seq.mask
        bias = self.model.repeat_bias.pair_bias(seq.times_ms, mask, seq.request_ms)  # (B, L, L)
        items = batch.items.unsqueeze(1).expand_as(bias)
        return add_repeat_bias(logits, items[mask], bias[mask])

    def _content_contest(
        self,
        catalogue: ItemInputs,
        users: list[torch.Tensor],
        targets: torch.Tensor,
        allowed: torch.Tensor,
        step: StepItems | None,
    ) -> torch.Tensor:
        """Next-item cross-entropy with every item scored by its content vector alone (no residual)."""
        rows = len(allowed) if step is None else len(step.candidates)
        content = self.model.item_vectors(catalogue, residual_keep=torch.zeros(rows, dtype=torch.bool))
        t = self.cfg.content_contest.temperature
        if step is None:
            logits = sum(u @ c.T for u, c in zip(users, content, strict=True)) / t
            return full_softmax_ce(logits, targets, allowed)
        raw = sum(step.scores(u, c, targets) for u, c in zip(users, content, strict=True)) / t
        return F.cross_entropy(step.corrected(raw, targets), torch.zeros(len(targets), dtype=torch.long))

    def _drop_catalogue_modality(self, catalogue: ItemInputs, names: list[str]) -> ItemInputs:
        """Training-time whole-modality dropout: for this step one content modality is absent for every item,
        so each modality's path also learns to rank alone (robustness to missing images or texts)."""
        content = [n for n in names if n in ("text", "image")]
        if not self.training or len(content) < 2 or torch.rand(()) >= self.cfg.step_modality_dropout:
            return catalogue
        return catalogue.without(content[int(torch.randint(len(content), ()))])

    def _drop_modalities(self, history: list[torch.Tensor], names: list[str]) -> list[torch.Tensor]:
        """Training-time modality dropout: a position loses one content modality (→ its absent or imputed vector)."""
        p = self.cfg.modality_dropout
        content = [i for i, n in enumerate(names) if n in ("text", "image")]
        if not self.training or p <= 0 or len(names) < 2 or not content:
            return history
        shape = history[0].shape[:-1]
        drop = torch.rand(shape) < p
        which = torch.randint(len(content), shape)
        out = list(history)
        for k, i in enumerate(content):
            others = [j for j in content if j != i]
            stand_in = self.model.missing_vector(names[i], history[others[0]] if others else None)
            out[i] = torch.where((drop & (which == k)).unsqueeze(-1), stand_in.expand_as(out[i]), out[i])
        return out

    def _distill(
        self, batch: Batch, catalogue: ItemInputs, teacher: torch.Tensor, pick: torch.Tensor, allowed: torch.Tensor
    ) -> torch.Tensor:
        """KL(teacher || student) over the training items, at temperature T and scaled by T²; the student is the
        same model with every image absent (each imputed from its text), as when all images are dropped."""
        model, t = self.model, self.cfg.distill.temperature
        items_c = model.item_vectors(catalogue.without("image"))
        states = model.encode([c[batch.items] for c in items_c], batch.seq)
        mask = batch.seq.mask
        student = sum(s[mask][pick] @ c.T for s, c in zip(states, items_c, strict=True))
        log_student = F.log_softmax(student.masked_fill(~allowed, float("-inf")) / t, dim=1)
        log_teacher = F.log_softmax(teacher.masked_fill(~allowed, float("-inf")) / t, dim=1)
        kl = torch.where(allowed, log_teacher.exp() * (log_teacher - log_student), torch.zeros(()))
        return kl.sum(1).mean() * t * t

    def _sampled_distill(
        self,
        batch: Batch,
        candidates: ItemInputs,
        step: StepItems,
        teacher: torch.Tensor,
        pick: torch.Tensor,
        targets: torch.Tensor,
    ) -> torch.Tensor:
        """:meth:`_distill` over the sampled columns: both distributions are logQ-corrected sampled softmaxes
        at temperature T (each estimates its full-catalogue distribution), accidental hits left out."""
        model, t = self.model, self.cfg.distill.temperature
        items_c = model.item_vectors(candidates.without("image"))
        states = model.encode([c[step.rows(batch.items)] for c in items_c], batch.seq)
        mask = batch.seq.mask
        picked = targets[pick]
        student = sum(step.scores(s[mask][pick], c, picked) for s, c in zip(states, items_c, strict=True))
        log_student = F.log_softmax(step.corrected(student / t, picked), dim=1)
        log_teacher = F.log_softmax(step.corrected(teacher / t, picked), dim=1)
        valid = ~step.hits(picked)
        kl = torch.where(valid, log_teacher.exp() * (log_teacher - log_student), torch.zeros(()))
        return kl.sum(1).mean() * t * t

    def _nicl(
        self,
        batch: Batch,
        catalogue: ItemInputs,
        items_c: list[torch.Tensor],
        names: list[str],
        rows: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor | None:
        """PMMRec next-item cross-modal contrastive loss over sampled (item, next item) pairs; ``rows`` maps
        catalogue indices to rows of ``catalogue`` and ``items_c``."""
        mask = batch.seq.mask
        cur, nxt = batch.items[mask], batch.targets[mask]
        both = catalogue.has_text & catalogue.has_image
        keep = torch.nonzero(both[rows(cur)] & both[rows(nxt)]).squeeze(1)
        if len(keep) < 2:
            return None
        keep = keep[torch.randperm(len(keep))[:_MAX_CONTRAST]]
        cur, nxt = rows(cur[keep]), rows(nxt[keep])
        text, image = items_c[names.index("text")], items_c[names.index("image")]
        same_cur = cur.unsqueeze(0) == cur.unsqueeze(1)
        same_nxt = nxt.unsqueeze(0) == nxt.unsqueeze(1)
        t = self.cfg.nicl.temperature
        return (
            info_nce(text[cur], image[cur], t, same_cur)
            + info_nce(text[cur], image[nxt], t, same_nxt)
            + info_nce(image[cur], text[nxt], t, same_nxt)
        ) / 3.0
