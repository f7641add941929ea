"""`services/web_gateway/tls.py`: the gateway's channel over mTLS, its files rotated under it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otel.tls_files import KeyPairFiles, PemFile
from otel_stack.harness.certificates import new_authority, write_identity
from services.envconfig import ConfigError
from services.order_api import tls as order_api_tls
from services.order_api.server import create_server
from services.order_api.servicer import OrderServicer
from services.order_api.store_sqlite import SqliteOrderStore
from services.web_gateway import tls
from services.web_gateway.client import OrderClient
from tests.support.polling import wait_until


@pytest.fixture
def mtls_port(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """An order-api requiring client certificates from a CA of its own; (port, its CA, the
    client CA's directory, where `write_identity` issues accepted client certificates)."""
    server_identity = write_identity(tmp_path / "server", new_authority("server CA"), "order-api")
    clients = tmp_path / "client-ca"
    accepted = write_identity(clients, new_authority("client CA"), "web-gateway")
    store = SqliteOrderStore(tmp_path / "orders.db")
    files = KeyPairFiles(
        PemFile("CERT", str(server_identity.cert)),
        PemFile("KEY", str(server_identity.key)),
        PemFile("CLIENT_CA", str(accepted.ca)),
    )
    server, port = create_server(
        "127.0.0.1:0",
        servicer=OrderServicer(store),
        credentials=order_api_tls.server_credentials(files),
    )
    server.start()
    try:
        yield port, server_identity.ca, clients
    finally:
        server.stop(None).wait()
        store.close()


def test_rotated_client_certificate_is_used_without_a_restart(
    mtls_port: tuple[int, Path, Path], tmp_path: Path
) -> None:
    port, server_ca, accepted = mtls_port
    # First a certificate the order-api does not accept (another CA), in the gateway's files.
    current = write_identity(tmp_path / "gateway", new_authority("stranger"), "web-gateway")
    files = tls.files_from_env(
        {
            "ORDER_API_CA": str(server_ca),
            "ORDER_API_CLIENT_CERT": str(current.cert),
            "ORDER_API_CLIENT_KEY": str(current.key),
        }
    )
    assert files is not None
    client = OrderClient(
        f"localhost:{port}", timeout=5.0, credentials=tls.channel_credentials(files)
    )
    try:
        assert not client.check_health()
        # The rotation: an accepted certificate and its key renamed over the files.
        (accepted / "tls.key").replace(current.key)
        (accepted / "tls.crt").replace(current.cert)

        wait_until(client.check_health, 30, "the rotated client certificate to be accepted")
    finally:
        client.close()


def test_client_key_without_a_ca_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="ORDER_API_CLIENT_CERT is set but ORDER_API_CA is not"):
        tls.files_from_env({"ORDER_API_CLIENT_CERT": "/c", "ORDER_API_CLIENT_KEY": "/k"})
