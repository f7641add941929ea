"""Certificates for TLS tests, made per test run: a CA, identities, channels and raw handshakes."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import grpc
from cryptography import x509

from otel.tls_files import KeyPairFiles, PemFile
from otel_stack.harness.certificates import IdentityFiles


def key_pair_files(
    identity: IdentityFiles, *, client_ca: bool, prefix: str = "TEST"
) -> KeyPairFiles:
    """The identity's files as variables named PREFIX_CERT, _KEY and (optionally) _CLIENT_CA."""
    return KeyPairFiles(
        PemFile(f"{prefix}_CERT", str(identity.cert)),
        PemFile(f"{prefix}_KEY", str(identity.key)),
        PemFile(f"{prefix}_CLIENT_CA", str(identity.ca)) if client_ca else None,
    )


def channel_credentials(ca: Path, client: IdentityFiles | None = None) -> grpc.ChannelCredentials:
    """Trust `ca`; present `client`'s certificate when given."""
    if client is None:
        return grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=client.key.read_bytes(),
        certificate_chain=client.cert.read_bytes(),
    )


def served_certificate(
    port: int, ca: Path, client: IdentityFiles | None = None, *, alpn: str | None = "h2"
) -> x509.Certificate:
    """The certificate a TLS server on 127.0.0.1:`port` presents to a new connection."""
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    if alpn:
        context.set_alpn_protocols([alpn])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)
