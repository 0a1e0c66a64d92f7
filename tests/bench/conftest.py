"""The tiny trained artifact of the ranker service tests (same cache under build/), for the benchmark tests."""

from tests.ranker_service.conftest import artifact  # noqa: F401  (a session fixture, re-exported)
