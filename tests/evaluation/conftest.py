"""The synthetic dataset fixtures of the model tests, shared with the evaluation tests."""

from tests.model.conftest import synthetic_catalogue, synthetic_root, synthetic_split  # noqa: F401
