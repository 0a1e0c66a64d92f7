"""Free loopback ports for servers started by tests (kairos.harness)."""

from __future__ import annotations

from kairos.harness.ports import free_port

__all__ = ["free_port"]
