"""`otel_stack/harness/certificates.py`: a throwaway CA and the certificates it signs."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from otel.tls_files import KeyPairFiles, PemFile, read_key_pair
from otel_stack.harness.certificates import new_authority, write_identity


def test_issued_certificate_is_signed_by_the_authority_and_names_the_local_hosts(
    tmp_path: Path,
) -> None:
    authority = new_authority()
    files = write_identity(tmp_path / "order-api", authority, "order-api")

    certificate = x509.load_pem_x509_certificate(files.cert.read_bytes())
    certificate.verify_directly_issued_by(authority.certificate)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["order-api", "localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


def test_identity_files_pass_the_services_checks_and_are_owner_only(tmp_path: Path) -> None:
    files = write_identity(tmp_path / "web-gateway", new_authority(), "web-gateway")

    read_key_pair(
        KeyPairFiles(
            PemFile("CERT", str(files.cert)),
            PemFile("KEY", str(files.key)),
            PemFile("CA", str(files.ca)),
        )
    )
    assert stat.S_IMODE(files.cert.parent.stat().st_mode) == 0o700
    for path in (files.cert, files.key, files.ca):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
