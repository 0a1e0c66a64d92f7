"""Start real servers on free loopback ports, wait until they are healthy, stop them SIGTERM → SIGKILL.

One harness for the tests, the benchmarks, the local suite and the Triton launcher.
"""

from kairos.harness.ports import free_port
from kairos.harness.process import ServerProcess, running
from kairos.harness.readiness import grpc_serving, http_ready, wait_until
from kairos.harness.signals import stop_pid

__all__ = ["ServerProcess", "free_port", "grpc_serving", "http_ready", "running", "stop_pid", "wait_until"]
