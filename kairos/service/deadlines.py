"""Deadline propagation: pass the caller's remaining budget downstream."""

from __future__ import annotations

import grpc


class BudgetExhausted(TimeoutError):
    """The caller's deadline leaves no time for a downstream call."""


def downstream_timeout(context: grpc.aio.ServicerContext, cap_s: float, reserve_s: float = 0.002) -> float:
    """Timeout for a downstream call: the caller's remaining time minus `reserve_s`, at most `cap_s`.

    Raises BudgetExhausted when nothing is left, so the server answers instead of calling out in vain.
    """
    remaining = context.time_remaining()
    if remaining is None:
        return cap_s
    budget = min(cap_s, remaining - reserve_s)
    if budget <= 0:
        raise BudgetExhausted(f"deadline leaves {remaining * 1000:.1f} ms, none for downstream calls")
    return budget
