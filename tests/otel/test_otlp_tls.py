"""`otel/otlp_tls.py`: unusable OTLP certificate files stop the start with one line naming them."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from otel.otlp_tls import check_files
from otel.settings import ConfigError as TelemetryConfigError
from otel_stack.harness.certificates import IdentityFiles, new_authority, write_identity


@pytest.fixture
def identity(tmp_path: Path) -> IdentityFiles:
    """A client certificate, its key and its CA."""
    return write_identity(tmp_path / "client", new_authority(), "order-api")


def test_usable_files_pass(identity: IdentityFiles) -> None:
    check_files(
        {
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(identity.ca),
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": str(identity.cert),
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": str(identity.key),
        },
        ["metrics", "traces"],
    )


def test_missing_certificate_is_named(tmp_path: Path) -> None:
    environ = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(tmp_path / "absent.pem")}

    with pytest.raises(
        TelemetryConfigError, match=r"^OTEL_EXPORTER_OTLP_CERTIFICATE='.*absent.pem': cannot read"
    ):
        check_files(environ, ["metrics"])


def test_per_signal_key_that_is_not_a_key_is_named(identity: IdentityFiles) -> None:
    environ = {"OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY": str(identity.cert)}

    with pytest.raises(TelemetryConfigError, match=r"OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY=.*not an"):
        check_files(environ, ["logs"])


def test_expired_client_certificate_is_named(tmp_path: Path) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)
    expired = write_identity(
        tmp_path / "old", new_authority(), "x", not_before=past, not_after=past
    )
    environ = {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(expired.cert)}

    with pytest.raises(
        TelemetryConfigError, match=r"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=.*expired"
    ):
        check_files(environ, ["traces"])


def test_signals_not_exported_over_otlp_are_not_checked(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.pem")

    check_files({"OTEL_EXPORTER_OTLP_CERTIFICATE": missing}, [])
    check_files({"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": missing}, ["metrics"])
