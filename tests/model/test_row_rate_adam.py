"""RowRateAdamW (recmodel/training/optim.py): AdamW exactly when every row is present every step; with rows present
one step in p and gradients 1/p as large (what the sampled softmax gives a per-item table), it moves a row as
far as AdamW moves it under the dense expected gradient, where plain AdamW moves it about sqrt(p) as far."""

from __future__ import annotations

import torch

from recmodel.training.optim import RowRateAdamW, make_optimizer


def _run(optimizer_for, grads: list[torch.Tensor], present: list[torch.Tensor | None]) -> torch.Tensor:
    table = torch.nn.Parameter(torch.zeros(grads[0].shape))
    at = {"t": 0}
    optimizer = optimizer_for(table, lambda: present[at["t"]])
    for t, grad in enumerate(grads):
        at["t"] = t
        table.grad = grad.clone()
        optimizer.step()
    return table.detach()


def _row_rate(table: torch.nn.Parameter, present) -> torch.optim.Optimizer:
    return RowRateAdamW([{"params": [table], "rows": True}], present, lr=0.01, weight_decay=0.1)


def _adamw(table: torch.nn.Parameter, present) -> torch.optim.Optimizer:
    return torch.optim.AdamW([table], lr=0.01, weight_decay=0.1)


def test_rows_present_every_step_is_adamw() -> None:
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(6, 4, generator=g) for _ in range(50)]
    every = [torch.ones(6, dtype=torch.bool)] * 50
    torch.testing.assert_close(_run(_row_rate, grads, every), _run(_adamw, grads, every))


def test_sampled_rows_move_as_far_as_under_the_dense_gradient() -> None:
    steps, p = 600, 0.05
    g = torch.Generator().manual_seed(0)
    expected = torch.tensor([[0.02, -0.01, 0.03]]).expand(8, 3).clone()  # a small, consistent gradient
    dense = [expected + 0.002 * torch.randn(8, 3, generator=g) for _ in range(steps)]
    drawn = [torch.rand(8, generator=g) < p for _ in range(steps)]
    sparse = [torch.where(d.unsqueeze(1), x / p, torch.zeros(())) for d, x in zip(drawn, dense, strict=True)]
    full_adam = _run(_adamw, dense, [None] * steps).abs().mean().item()
    plain = _run(_adamw, sparse, drawn).abs().mean().item()
    corrected = _run(_row_rate, sparse, drawn).abs().mean().item()
    assert plain < 0.4 * full_adam  # about sqrt(0.05) = 0.22 of the way
    assert 0.75 * full_adam < corrected < 1.3 * full_adam


def test_make_optimizer_corrects_only_the_given_tables() -> None:
    module = torch.nn.Sequential(torch.nn.Embedding(5, 3), torch.nn.Linear(3, 2))
    assert isinstance(make_optimizer(module, 0.01, 0.0), torch.optim.AdamW)
    optimizer = make_optimizer(module, 0.01, 0.0, [module[0].weight], lambda: None)
    assert isinstance(optimizer, RowRateAdamW)
    assert [g["rows"] for g in optimizer.param_groups] == [False, True]
    assert optimizer.param_groups[1]["params"] == [module[0].weight]
    assert len(optimizer.param_groups[0]["params"]) == 2  # the Linear's weight and bias
