"""The gateway's TLS towards the order-api: channel credentials from files named by variables.

ORDER_API_CA (the CA bundle that signed the order-api's certificate) turns TLS
on; ORDER_API_CLIENT_CERT and ORDER_API_CLIENT_KEY add a client certificate
(mTLS); ORDER_API_SERVER_NAME is the name the order-api's certificate must
carry when the target does not say it (an `ipv4:` list of replicas, say). The
files are checked at start and looked at again about once a second: rotated
ones give the client a new channel for new calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import grpc

from otel.tls_files import (
    KeyPairFiles,
    PemFile,
    TlsFileError,
    WatchedFiles,
    read_certificates,
    read_key_pair,
)
from services.envconfig import ConfigError

CA_VARIABLE = "ORDER_API_CA"
CERT_VARIABLE = "ORDER_API_CLIENT_CERT"
KEY_VARIABLE = "ORDER_API_CLIENT_KEY"
SERVER_NAME_VARIABLE = "ORDER_API_SERVER_NAME"


@dataclass(frozen=True)
class ChannelTlsFiles:
    """The CA to trust, the optional client certificate and key, the expected server name."""

    ca: PemFile
    client: KeyPairFiles | None = None
    server_name: str | None = None


def files_from_env(environ: Mapping[str, str]) -> ChannelTlsFiles | None:
    """The files ORDER_API_CA/_CLIENT_CERT/_CLIENT_KEY name; None (plaintext) without a CA."""
    ca, cert, key, server_name = (
        environ.get(name, "").strip()
        for name in (CA_VARIABLE, CERT_VARIABLE, KEY_VARIABLE, SERVER_NAME_VARIABLE)
    )
    if not ca:
        given = [name for name, value in ((CERT_VARIABLE, cert), (KEY_VARIABLE, key)) if value]
        if given:
            raise ConfigError(f"{given[0]} is set but {CA_VARIABLE} is not: TLS needs a CA")
        return None
    if bool(cert) != bool(key):
        missing, given_name = (
            (CERT_VARIABLE, KEY_VARIABLE) if not cert else (KEY_VARIABLE, CERT_VARIABLE)
        )
        raise ConfigError(f"{given_name} is set but {missing} is not: set both or neither")
    client = (
        KeyPairFiles(PemFile(CERT_VARIABLE, cert), PemFile(KEY_VARIABLE, key)) if cert else None
    )
    return ChannelTlsFiles(PemFile(CA_VARIABLE, ca), client, server_name or None)


def _read(files: ChannelTlsFiles) -> grpc.ChannelCredentials:
    ca = read_certificates(files.ca)
    pair = read_key_pair(files.client) if files.client else None
    if pair is None:
        return grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=pair.private_key, certificate_chain=pair.cert_chain
    )


class ChannelCredentials:
    """The channel's credentials from the files, and new ones when the files change.

    A rotated set that fails the checks is refused with a warning; the previous
    credentials stay (`otel.tls_files.WatchedFiles`).
    """

    def __init__(self, files: ChannelTlsFiles) -> None:
        paths = [files.ca, *(files.client.files if files.client else ())]
        self._watched = WatchedFiles(paths, lambda: _read(files))

    def current(self) -> grpc.ChannelCredentials:
        """The credentials to use now."""
        return self._watched.current()

    def changed(self) -> grpc.ChannelCredentials | None:
        """New credentials if the files changed (and pass the checks), else None."""
        return self._watched.changed()


def channel_credentials(files: ChannelTlsFiles) -> ChannelCredentials:
    """Read and check the files now; ConfigError naming the variable when one is unusable."""
    try:
        return ChannelCredentials(files)
    except TlsFileError as error:
        raise ConfigError(str(error)) from None
