"""Fixtures of the reliability tests: the tiny trained ranker artifact (shared with tests/ranker_service) and PKI."""

from __future__ import annotations

import pytest

from tests.ranker_service.conftest import artifact  # noqa: F401  (session fixture: tiny artifact, cached in build/)
from tests.support import certs


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> certs.TestPki:
    """A throw-away CA with a localhost server certificate and a client certificate."""
    return certs.make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def rogue_pki(tmp_path_factory: pytest.TempPathFactory) -> certs.TestPki:
    """A second, unrelated CA: its client certificate must be refused by servers trusting `pki`."""
    return certs.make_pki(tmp_path_factory.mktemp("rogue-pki"))
