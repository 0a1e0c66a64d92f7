"""Exceptions shared by the encoder components."""

from __future__ import annotations


class InvalidItemError(ValueError):
    """One input item (a text or an image) cannot be embedded; the message says why."""


class EncoderUnavailableError(RuntimeError):
    """The whole call failed: encoder server down, circuit open or retries exhausted (gRPC UNAVAILABLE)."""


class EncoderDeadlineExceededError(EncoderUnavailableError):
    """The call did not finish within its deadline (gRPC DEADLINE_EXCEEDED)."""


class CircuitOpenError(EncoderUnavailableError):
    """Calls are refused without trying because recent calls kept failing."""
