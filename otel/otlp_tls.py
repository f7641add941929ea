"""A check at start of the certificate files the OTLP exporters' standard variables name.

The exporters read `OTEL_EXPORTER_OTLP_CERTIFICATE`, `_CLIENT_CERTIFICATE`,
`_CLIENT_KEY` (and their per-signal forms) themselves; this only makes a file
that cannot be used stop the service with one line naming the variable, where
the gRPC exporter would log a traceback and fall back to the system's CAs (a
missing file) or raise from the provider's construction (an unreadable one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from otel.settings import ConfigError
from otel.tls_files import PemFile, TlsFileError, read_certificates, read_private_key

_CERTIFICATE_SUFFIXES = ("CERTIFICATE", "CLIENT_CERTIFICATE")
_KEY_SUFFIX = "CLIENT_KEY"


def variables(signals: Iterable[str]) -> list[str]:
    """The file variables an OTLP exporter of these signals may read, general ones first."""
    prefixes = ["OTEL_EXPORTER_OTLP_"]
    prefixes += [f"OTEL_EXPORTER_OTLP_{signal.upper()}_" for signal in signals]
    return [
        prefix + suffix for prefix in prefixes for suffix in (*_CERTIFICATE_SUFFIXES, _KEY_SUFFIX)
    ]


def check_files(environ: Mapping[str, str], signals: Iterable[str]) -> None:
    """Raise ConfigError naming the first set variable whose file is unusable.

    `signals` are those exported over OTLP ("metrics", "traces", "logs"); none: nothing to check.
    """
    signals = list(signals)
    if not signals:
        return
    for variable in variables(signals):
        path = environ.get(variable, "").strip()
        if not path:
            continue
        file = PemFile(variable, path)
        try:
            if variable.endswith(_KEY_SUFFIX):
                read_private_key(file)
            else:
                read_certificates(file)
        except TlsFileError as error:
            raise ConfigError(str(error)) from None
