"""Loss functions on hand-checkable cases."""

from __future__ import annotations

import math

import pytest
import torch

from recmodel.training.losses import (
    balance_loss,
    full_softmax_ce,
    info_nce,
    modality_contributions,
    sampled_softmax_ce,
)


def test_full_softmax_uniform_logits_is_log_n() -> None:
    logits = torch.zeros(3, 8)
    assert full_softmax_ce(logits, torch.tensor([0, 1, 2])).item() == pytest.approx(math.log(8))


def test_full_softmax_excludes_disallowed_items() -> None:
    logits = torch.zeros(1, 4)
    allowed = torch.tensor([True, True, False, False])
    assert full_softmax_ce(logits, torch.tensor([1]), allowed).item() == pytest.approx(math.log(2))


def test_sampled_softmax_logq_correction_is_exact_for_a_hand_case() -> None:
    users = torch.tensor([[1.0, 0.0]])
    items = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    proposal = torch.tensor([0.0, 1.0])  # only item 1 can be sampled
    loss = sampled_softmax_ce(users, items, torch.tensor([0]), proposal, num_negatives=2)
    # logits: the positive as it is, 2; two negatives 0 - log(2*1) (recmodel.training.sampling: only negatives
    # are corrected, so the denominator estimates the full partition function)
    pos, neg = 2.0, -math.log(2.0)
    expected = -pos + math.log(math.exp(pos) + 2 * math.exp(neg))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_sampled_softmax_masks_accidental_hits() -> None:
    users = torch.tensor([[1.0, 0.0]])
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    proposal = torch.tensor([1.0, 0.0])  # every negative is the positive itself → all masked
    loss = sampled_softmax_ce(users, items, torch.tensor([0]), proposal, num_negatives=3)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_info_nce_hand_case() -> None:
    a = torch.eye(2)
    # perfectly aligned orthogonal pairs: logits diag 1/t, off-diagonal 0
    t = 0.5
    expected = -2.0 + math.log(math.exp(2.0) + 1.0)
    assert info_nce(a, a, t).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_removes_false_negatives() -> None:
    a = torch.eye(2)
    same = torch.ones(2, 2, dtype=torch.bool)
    assert info_nce(a, a, 0.5, same).item() == pytest.approx(0.0, abs=1e-6)


def test_modality_contribution_is_the_counterfactual_margin() -> None:
    text = torch.tensor([[3.0, 1.0, 2.0]])  # positive 3, mean 2 → margin 1
    image = torch.tensor([[0.0, 0.0, 0.0]])  # no information → 0
    contrib = modality_contributions([text, image], torch.tensor([0]), None)
    assert contrib.tolist() == [[1.0, 0.0]]


def test_balance_loss_upweights_the_weaker_modality() -> None:
    strong = torch.tensor([[5.0, 0.0, 0.0]], requires_grad=True)
    weak = torch.tensor([[0.0, 0.0, 0.0]], requires_grad=True)
    loss, contrib = balance_loss([strong, weak], torch.tensor([0]), None, temperature=1.0)
    loss.backward()
    assert contrib[0, 0] > contrib[0, 1]
    # the weak modality's gradient on its positive logit is larger in magnitude than the strong one's
    assert abs(weak.grad[0, 0]) > abs(strong.grad[0, 0])
