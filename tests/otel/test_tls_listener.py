"""`otel/tls_listener.py` via `otel.prometheus.serve`: /metrics over TLS, client certificates."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from otel import prometheus
from otel_stack.harness.certificates import Authority, IdentityFiles, new_authority, write_identity
from services.order_api import tls
from tests.support.tls import key_pair_files, served_certificate


@pytest.fixture
def authority() -> Authority:
    """A fresh CA for the test."""
    return new_authority()


@pytest.fixture
def server_identity(tmp_path: Path, authority: Authority) -> IdentityFiles:
    """The listener's certificate."""
    return write_identity(tmp_path / "order-api", authority, "order-api")


@pytest.fixture
def scraper_identity(tmp_path: Path, authority: Authority) -> IdentityFiles:
    """Prometheus' client certificate."""
    return write_identity(tmp_path / "prometheus", authority, "prometheus")


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("probe", "A probe.", registry=registry).inc()
    return registry


def _listen(server_identity: IdentityFiles, *, client_ca: bool) -> Iterator[int]:
    context = tls.metrics_ssl_context(key_pair_files(server_identity, client_ca=client_ca))
    server = prometheus.serve(_registry(), "127.0.0.1", 0, ssl_context=context)
    try:
        yield server.port
    finally:
        server.stop()


@pytest.fixture
def tls_port(server_identity: IdentityFiles) -> Iterator[int]:
    """/metrics over TLS, no client certificate needed."""
    yield from _listen(server_identity, client_ca=False)


@pytest.fixture
def client_auth_port(server_identity: IdentityFiles) -> Iterator[int]:
    """/metrics over TLS requiring a client certificate from the CA."""
    yield from _listen(server_identity, client_ca=True)


def _scrape(port: int, ca: Path, client: IdentityFiles | None = None) -> str:
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    url = f"https://localhost:{port}/metrics"
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return str(response.read().decode())


def test_metrics_are_served_over_tls(tls_port: int, server_identity: IdentityFiles) -> None:
    assert "probe_total 1.0" in _scrape(tls_port, server_identity.ca)


def test_plain_http_gets_no_metrics(tls_port: int) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{tls_port}/metrics", timeout=10)


def test_client_certificate_from_the_ca_is_served(
    client_auth_port: int, server_identity: IdentityFiles, scraper_identity: IdentityFiles
) -> None:
    assert "probe_total 1.0" in _scrape(client_auth_port, server_identity.ca, scraper_identity)


def test_scrape_without_a_client_certificate_is_refused(
    client_auth_port: int, server_identity: IdentityFiles
) -> None:
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        _scrape(client_auth_port, server_identity.ca)


def test_client_certificate_from_another_ca_is_refused(
    client_auth_port: int, server_identity: IdentityFiles, tmp_path: Path
) -> None:
    stranger = write_identity(tmp_path / "stranger", new_authority("another CA"), "prometheus")

    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        _scrape(client_auth_port, server_identity.ca, stranger)


def test_a_silent_connection_does_not_hold_up_scrapes(
    tls_port: int, server_identity: IdentityFiles
) -> None:
    # prometheus_client's own TLS option handshakes in its accept loop: this would hang there.
    with socket.create_connection(("127.0.0.1", tls_port)):
        assert "probe_total 1.0" in _scrape(tls_port, server_identity.ca)


def test_rotated_certificate_is_served_to_new_connections(
    tls_port: int, server_identity: IdentityFiles, authority: Authority, tmp_path: Path
) -> None:
    before = served_certificate(tls_port, server_identity.ca, alpn=None)
    rotated = write_identity(tmp_path / "rotated", authority, "order-api")
    rotated.key.replace(server_identity.key)
    rotated.cert.replace(server_identity.cert)

    after = served_certificate(tls_port, server_identity.ca, alpn=None)

    assert after.serial_number != before.serial_number
    assert "probe_total 1.0" in _scrape(tls_port, server_identity.ca)
