"""The optimizer: AdamW, and with the sampled softmax AdamW whose per-item rows are corrected for sampling.

Adam divides each coordinate's step by the root mean square of its gradients. With the full softmax every
catalogue row of a per-item table (the dual-path residual, recmodel/model/recommender.py) receives a gradient on
every step. With the sampled softmax a row receives one only on the steps whose candidates include it (its item
drawn as a negative, or in the batch), with probability p, and then about 1/p times larger (the logQ
correction): the same expected gradient g, but the mean square is g^2 / p instead of g^2, so plain Adam moves
the row sqrt(p) times as far per step as the full softmax does. Items the proposal rarely draws (the tail, p of
a few percent at 512 negatives) then keep much of their initial state, and the sampled model ranks differently
from the full one however many negatives it draws.

:class:`RowRateAdamW` estimates each row's candidate rate r (an exponential average of "the row was a
candidate this step", with Adam's beta2 and bias correction) and uses v * r in place of Adam's second moment v:
for a row present every step (r = 1) this is AdamW exactly, and for a row present with probability p the
expected step matches the full softmax's. Every other parameter is updated as by AdamW.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

MIN_RATE = 0.01  # rows rarer than this are corrected as if present 1% of the time (bounds a rare row's step)


class RowRateAdamW(torch.optim.Optimizer):
    """AdamW; in param groups with ``rows: True`` (2-D tables) each row's second moment is scaled by its rate of
    presence, ``present()`` giving the (N,) bool rows present in the step just taken (see the module docstring)."""

    def __init__(
        self,
        params: Iterable[dict[str, Any]],
        present: Callable[[], torch.Tensor | None],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "rows": False})
        self.present = present

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    if group["rows"]:
                        state["rate"] = torch.zeros(p.shape[0], dtype=p.dtype, device=p.device)
                state["step"] += 1
                t = state["step"]
                grad = p.grad
                p.mul_(1 - group["lr"] * group["weight_decay"])
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                second = state["exp_avg_sq"] / (1 - beta2**t)
                if group["rows"]:
                    present = self.present()
                    touched = grad.ne(0).any(dim=1)  # other ranks' rows arrive through the all-reduced gradient
                    if present is not None:
                        touched[present] = True
                    state["rate"].mul_(beta2).add_(touched.to(p.dtype), alpha=1 - beta2)
                    rate = (state["rate"] / (1 - beta2**t)).clamp(min=MIN_RATE)
                    second = second * rate.unsqueeze(1)
                p.addcdiv_(state["exp_avg"], second.sqrt().add_(group["eps"]), value=-group["lr"] / (1 - beta1**t))
        return loss


def make_optimizer(
    module: nn.Module,
    lr: float,
    weight_decay: float,
    row_tables: list[torch.Tensor] | None = None,
    present: Callable[[], torch.Tensor | None] | None = None,
) -> torch.optim.Optimizer:
    """AdamW over ``module``'s parameters; with ``row_tables`` (the sampled softmax's per-item tables) and
    ``present``, :class:`RowRateAdamW` with those tables row-corrected."""
    if not row_tables or present is None:
        return torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    ids = {id(t) for t in row_tables}
    rest = [p for p in module.parameters() if id(p) not in ids]
    groups: list[dict[str, Any]] = [{"params": rest}, {"params": list(row_tables), "rows": True}]
    return RowRateAdamW(groups, present, lr=lr, weight_decay=weight_decay)
