"""The order-api's TLS: gRPC server credentials and the metrics listener's context, reloading.

Both are built from files named by variables (ORDER_API_TLS_* for gRPC,
ORDER_API_METRICS_TLS_* for `/metrics`) and follow them on disk: gRPC asks for
its certificate configuration on every new connection (`grpc.dynamic_ssl_server_credentials`),
the metrics listener for its `SSLContext` on every new connection; both get the
files' current contents when they changed and pass the checks of
`otel.tls_files`, else the previous ones. A client CA means client certificates
are required (mTLS). Each call builds its own watcher, so every worker process
builds its own credentials.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import cast

import grpc

from otel.tls_files import KeyPair, KeyPairFiles, PemFile, TlsFileError, WatchedFiles, read_key_pair
from services.envconfig import ConfigError

GRPC_VARIABLES = ("ORDER_API_TLS_CERT", "ORDER_API_TLS_KEY", "ORDER_API_TLS_CLIENT_CA")
METRICS_VARIABLES = (
    "ORDER_API_METRICS_TLS_CERT",
    "ORDER_API_METRICS_TLS_KEY",
    "ORDER_API_METRICS_TLS_CLIENT_CA",
)


def files_from_env(
    environ: Mapping[str, str], variables: tuple[str, str, str]
) -> KeyPairFiles | None:
    """The files the three variables (certificate, key, client CA) name; None when all unset.

    The certificate and the key go together; a client CA needs both. Contents are
    checked when the credentials are built.
    """
    cert_var, key_var, ca_var = variables
    cert, key, ca = (environ.get(name, "").strip() for name in variables)
    if not cert and not key:
        if ca:
            raise ConfigError(f"{ca_var} is set but {cert_var} and {key_var} are not")
        return None
    if not cert or not key:
        missing, given = (cert_var, key_var) if not cert else (key_var, cert_var)
        raise ConfigError(f"{given} is set but {missing} is not: set both or neither")
    return KeyPairFiles(
        PemFile(cert_var, cert), PemFile(key_var, key), PemFile(ca_var, ca) if ca else None
    )


def _configuration(pair: KeyPair) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(pair.private_key, pair.cert_chain)], root_certificates=pair.ca
    )


def server_credentials(files: KeyPairFiles) -> grpc.ServerCredentials:
    """Credentials serving the files' current certificate to every new connection.

    Raises ConfigError (naming the variable and the reason) when the files
    cannot be used now.
    """
    try:
        watched = WatchedFiles(files.files, lambda: _configuration(read_key_pair(files)))
    except TlsFileError as error:
        raise ConfigError(str(error)) from None
    # gRPC calls the fetcher for each new connection; None means "no change" (grpc's
    # documentation; the type stubs leave None out).
    fetcher = cast(Callable[[], grpc.ServerCertificateConfiguration], watched.changed)
    return grpc.dynamic_ssl_server_credentials(
        watched.current(),
        fetcher,
        require_client_authentication=files.ca is not None,
    )


def metrics_ssl_context(files: KeyPairFiles) -> Callable[[], ssl.SSLContext]:
    """A source of the metrics listener's server context, following the files on disk.

    Raises ConfigError (naming the variable and the reason) when the files
    cannot be used now.
    """

    def build() -> ssl.SSLContext:
        read_key_pair(files)  # the checks, with their messages, before OpenSSL reads the files
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(files.cert.path, files.key.path)
        if files.ca is not None:
            context.load_verify_locations(cafile=files.ca.path)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    try:
        watched = WatchedFiles(files.files, build)
    except (TlsFileError, ssl.SSLError) as error:
        raise ConfigError(str(error)) from None
    return watched.current
