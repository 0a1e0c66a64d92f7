"""Retraining tests: the ranker service's real-process fixtures (tiny trained artifact, ranker launcher)."""

from tests.ranker_service.conftest import artifact  # noqa: F401 - re-exported fixture
