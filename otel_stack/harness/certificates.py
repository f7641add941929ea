"""A throwaway certificate authority and the certificates it signs, for local TLS and tests.

`otel-stack up --tls` and the tests make a fresh CA per run: nothing here is
meant to outlive it. Each identity is written as cert-manager writes a
Secret — a directory holding `tls.crt`, `tls.key` and `ca.crt` — readable by
its owner only. Keys are ECDSA P-256; every certificate may serve and
authenticate as a client, and names `localhost`, `127.0.0.1` and `::1` besides
its own name, so the same files work for any hop on this machine.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
DEFAULT_LIFETIME = datetime.timedelta(days=7)
# Clocks of peers may lag a little behind the one that signed.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class Authority:
    """A CA certificate and its key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class IdentityFiles:
    """Where one identity's files are: certificate, key and the CA that signed it."""

    cert: Path
    key: Path
    ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "otel-stack throwaway"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def new_authority(
    common_name: str = "otel-stack throwaway CA", lifetime: datetime.timedelta = DEFAULT_LIFETIME
) -> Authority:
    """A self-signed CA valid from now for `lifetime`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate, key)


def issue(
    authority: Authority,
    common_name: str,
    hosts: tuple[str, ...] = LOCAL_HOSTS,
    *,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> tuple[bytes, bytes]:
    """A certificate for server and client use naming `common_name` and `hosts`: (cert, key) PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys((common_name, *hosts)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - BACKDATE)
        .not_valid_after(not_after or now + DEFAULT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
            critical=False,
        )
        .sign(authority.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, readable and writable by the owner only, replacing it atomically."""
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    partial.replace(path)


def write_identity(
    directory: Path,
    authority: Authority,
    common_name: str,
    hosts: tuple[str, ...] = LOCAL_HOSTS,
    *,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> IdentityFiles:
    """Issue a certificate and write `directory/{tls.crt,tls.key,ca.crt}` (owner-only)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    cert_pem, key_pem = issue(
        authority, common_name, hosts, not_before=not_before, not_after=not_after
    )
    files = IdentityFiles(directory / "tls.crt", directory / "tls.key", directory / "ca.crt")
    write_private(files.ca, authority.pem)
    write_private(files.key, key_pem)
    write_private(files.cert, cert_pem)
    return files
