"""The server harness (kairos.harness) as the tests import it."""

from __future__ import annotations

from kairos.harness.process import REPO_ROOT, ServerProcess, running
from kairos.harness.readiness import grpc_serving, wait_until

__all__ = ["REPO_ROOT", "ServerProcess", "grpc_serving", "running", "wait_until"]
