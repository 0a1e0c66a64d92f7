"""TLS and mutual TLS credentials from PEM files (configuration, not code changes)."""

from __future__ import annotations

from pathlib import Path

import grpc


def server_credentials(
    cert_file: Path | None, key_file: Path | None, client_ca_file: Path | None = None
) -> grpc.ServerCredentials | None:
    """TLS server credentials, requiring client certificates when `client_ca_file` is set; None = plaintext."""
    if cert_file is None or key_file is None:
        return None
    pair = [(key_file.read_bytes(), cert_file.read_bytes())]
    if client_ca_file is None:
        return grpc.ssl_server_credentials(pair)
    return grpc.ssl_server_credentials(pair, root_certificates=client_ca_file.read_bytes(), require_client_auth=True)


def channel_credentials(
    ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None
) -> grpc.ChannelCredentials:
    """Client TLS credentials: trust `ca_file` (system roots when None), present a client cert for mTLS."""
    return grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes() if ca_file else None,
        private_key=key_file.read_bytes() if key_file else None,
        certificate_chain=cert_file.read_bytes() if cert_file else None,
    )
