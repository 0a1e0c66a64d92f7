"""The compute worker limits numpy's BLAS pool: idle OpenBLAS workers spin, and every BLAS call of the ranker is
small (a core burned at 20 requests/s; see ranker/service/README.md)."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from ranker.service.compute import ComputeWorker
from ranker.service.settings import RankerSettings


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_blas_is_limited_to_the_configured_threads() -> None:
    assert RankerSettings.model_fields["blas_threads"].default == 1
    with threadpool_limits(limits=2, user_api="blas"):  # as numpy starts on a 2-core machine
        assert _blas_threads() == {2}
        worker = ComputeWorker(threads=1, blas_threads=1)
        try:
            assert _blas_threads() == {1}
            v = np.arange(12, dtype=np.float32).reshape(3, 4)
            np.testing.assert_allclose(worker.call(lambda: v @ v[0]), v @ v[0])
        finally:
            worker.close()
