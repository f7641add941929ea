"""PEM certificate and key files named by environment variables: read, checked, watched.

Every check names the variable and the reason in one line (unreadable, not
PEM, expired, not yet valid, a key that does not match its certificate), so a
service can stop at start with it. `WatchedFiles` re-reads a set of files when
one of them changes on disk (modification time, inode or size: a rewrite in
place, a rename over it, or Kubernetes' symlink swap of a mounted Secret), so
rotated certificates are picked up without a restart; a rotated set that fails
the checks is refused with a warning and the previous one stays in use.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TlsFileError(ValueError):
    """A certificate or key file that cannot be used; the message names its variable."""


@dataclass(frozen=True)
class PemFile:
    """A file and the variable that named it (the variable goes into every error)."""

    variable: str
    path: str

    def read(self) -> bytes:
        """The file's bytes; TlsFileError naming the variable when unreadable."""
        try:
            return Path(self.path).read_bytes()
        except OSError as error:
            raise TlsFileError(f"{self}: cannot read: {error.strerror or error}") from None

    def __str__(self) -> str:
        return f"{self.variable}={self.path!r}"


@dataclass(frozen=True)
class KeyPairFiles:
    """A certificate chain and its private key, and optionally a CA bundle to verify peers."""

    cert: PemFile
    key: PemFile
    ca: PemFile | None = None

    @property
    def files(self) -> tuple[PemFile, ...]:
        """Every file of the set, in a fixed order."""
        return (self.cert, self.key) if self.ca is None else (self.cert, self.key, self.ca)


@dataclass(frozen=True)
class KeyPair:
    """Checked PEM bytes: the certificate chain, its key, and the CA bundle (or None)."""

    cert_chain: bytes
    private_key: bytes
    ca: bytes | None = None


def read_certificates(file: PemFile, now: datetime.datetime | None = None) -> bytes:
    """The file's PEM certificates, each checked to be within its validity period."""
    data = file.read()
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TlsFileError(f"{file}: not a PEM certificate") from None
    now = now or datetime.datetime.now(datetime.UTC)
    for certificate in certificates:
        subject = certificate.subject.rfc4514_string() or "(no subject)"
        if certificate.not_valid_after_utc < now:
            expired = certificate.not_valid_after_utc.isoformat()
            raise TlsFileError(f"{file}: certificate {subject} expired at {expired}")
        if certificate.not_valid_before_utc > now:
            start = certificate.not_valid_before_utc.isoformat()
            raise TlsFileError(f"{file}: certificate {subject} is not valid before {start}")
    return data


def read_private_key(file: PemFile) -> tuple[bytes, PrivateKeyTypes]:
    """The file's bytes and the PEM private key in it (unencrypted)."""
    data = file.read()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise TlsFileError(f"{file}: not an unencrypted PEM private key") from None
    return data, key


def read_key_pair(files: KeyPairFiles) -> KeyPair:
    """Read and check a whole set: valid certificates, and a key matching the first one."""
    chain = read_certificates(files.cert)
    key_bytes, key = read_private_key(files.key)
    leaf = x509.load_pem_x509_certificates(chain)[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if leaf.public_key().public_bytes(encoding, public) != key.public_key().public_bytes(
        encoding, public
    ):
        raise TlsFileError(f"{files.key}: does not match the certificate in {files.cert}")
    ca = read_certificates(files.ca) if files.ca is not None else None
    return KeyPair(chain, key_bytes, ca)


def _stamp(files: Sequence[PemFile]) -> tuple[tuple[int, int, int], ...]:
    stamps = []
    for file in files:
        try:
            status = Path(file.path).stat()
        except OSError:
            stamps.append((-1, -1, -1))
            continue
        stamps.append((status.st_mtime_ns, status.st_ino, status.st_size))
    return tuple(stamps)


class WatchedFiles(Generic[T]):
    """A value built from files, rebuilt when one of them changes; a bad new set is refused.

    `build` reads the files and raises TlsFileError (or OSError, ValueError) when
    they cannot be used; the first build's error reaches the caller (a service
    stops at start), later ones are logged and the previous value kept. `current()`
    costs a `stat` per file: cheap enough for every new connection.
    """

    def __init__(self, files: Sequence[PemFile], build: Callable[[], T]) -> None:
        self._files = tuple(files)
        self._build = build
        self._lock = threading.Lock()
        self._stamp = _stamp(self._files)
        self._value = build()
        self._refused: tuple[tuple[int, int, int], ...] | None = None

    def current(self) -> T:
        """The value for the files as they are now (rebuilt if they changed and are usable)."""
        return self.changed() or self._value

    def changed(self) -> T | None:
        """The new value if the files changed since the last build and are usable, else None."""
        stamp = _stamp(self._files)
        if stamp in (self._stamp, self._refused):
            return None
        with self._lock:
            if stamp == self._stamp:
                return None
            try:
                value = self._build()
            except (TlsFileError, OSError, ValueError) as error:
                # A rotation tool may write the certificate and the key one after the
                # other: the next change of either file is tried again.
                self._refused = stamp
                logger.warning("keeping the previous TLS files: %s", error)
                return None
            self._stamp, self._value, self._refused = stamp, value, None
        names = ", ".join(str(file) for file in self._files)
        logger.info("TLS files reloaded: %s", names)
        return value
