"""Channels of the client: kairos.service.channel's settings (TLS/mTLS, token file, retries on UNAVAILABLE)
for asyncio, the same options for blocking channels, and the call metadata carrying a bearer token."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from kairos.service.channel import ChannelSettings, channel_options, create_channel, read_token

Metadata = tuple[tuple[str, str], ...]


def channel_settings(target: ChannelSettings | str) -> ChannelSettings:
    """`target` as ChannelSettings (a plain "host:port" gets the defaults: plaintext, 3 attempts)."""
    return ChannelSettings(address=target) if isinstance(target, str) else target


def call_metadata(
    settings: ChannelSettings, token: str | None, metadata: Sequence[tuple[str, str]], blocking: bool
) -> Metadata:
    """Metadata sent with every call: `metadata`, plus the bearer token given as a string (or, for blocking
    channels, read from `settings.auth_token_file`; asyncio channels send that one through an interceptor)."""
    if token is not None and settings.auth_token_file is not None:
        raise ValueError("pass either token or ChannelSettings.auth_token_file, not both")
    if token is None and blocking and settings.auth_token_file is not None:
        token = read_token(settings.auth_token_file)
    if token is not None and not token.strip():
        raise ValueError("token is empty")
    bearer = (("authorization", f"Bearer {token.strip()}"),) if token is not None else ()
    return (*tuple(metadata), *bearer)


def async_channel(settings: ChannelSettings) -> grpc.aio.Channel:
    """An asyncio channel (kairos.service.channel.create_channel)."""
    return create_channel(settings)


def blocking_channel(settings: ChannelSettings) -> grpc.Channel:
    """A blocking channel with the options create_channel gives asyncio ones (the token goes in call metadata)."""
    options = channel_options(settings)
    if settings.tls:
        from kairos.service.tls import channel_credentials

        creds = channel_credentials(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)
        return grpc.secure_channel(settings.address, creds, options=options)
    return grpc.insecure_channel(settings.address, options=options)
