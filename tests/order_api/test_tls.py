"""`services/order_api/tls.py`: the gRPC server over TLS and mTLS, with real peers and rotation."""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from otel.tls_files import KeyPairFiles
from otel_stack.harness.certificates import Authority, IdentityFiles, new_authority, write_identity
from services.envconfig import ConfigError
from services.order_api import tls
from services.order_api.server import create_health_server, create_server
from services.order_api.servicer import OrderServicer
from services.order_api.store_sqlite import SqliteOrderStore
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support.tls import channel_credentials, key_pair_files, served_certificate


@dataclass
class TlsServer:
    """An order-api gRPC server in this process, serving the given files over TLS."""

    port: int
    files: KeyPairFiles

    @property
    def target(self) -> str:
        """What clients dial; the certificates name localhost."""
        return f"localhost:{self.port}"


@pytest.fixture
def authority() -> Authority:
    """A fresh CA for the test."""
    return new_authority()


@pytest.fixture
def server_identity(tmp_path: Path, authority: Authority) -> IdentityFiles:
    """The order-api's certificate, key and CA."""
    return write_identity(tmp_path / "order-api", authority, "order-api")


@pytest.fixture
def client_identity(tmp_path: Path, authority: Authority) -> IdentityFiles:
    """A client certificate signed by the same CA."""
    return write_identity(tmp_path / "web-gateway", authority, "web-gateway")


def _serve(tmp_path: Path, files: KeyPairFiles) -> Iterator[TlsServer]:
    store = SqliteOrderStore(tmp_path / "orders.db")
    server, port = create_server(
        "127.0.0.1:0",
        servicer=OrderServicer(store),
        credentials=tls.server_credentials(files),
    )
    server.start()
    try:
        yield TlsServer(port, files)
    finally:
        server.stop(None).wait()
        store.close()


@pytest.fixture
def tls_server(tmp_path: Path, server_identity: IdentityFiles) -> Iterator[TlsServer]:
    """TLS without client authentication."""
    yield from _serve(tmp_path, key_pair_files(server_identity, client_ca=False))


@pytest.fixture
def mtls_server(tmp_path: Path, server_identity: IdentityFiles) -> Iterator[TlsServer]:
    """TLS requiring a client certificate signed by the CA."""
    yield from _serve(tmp_path, key_pair_files(server_identity, client_ca=True))


def _health(target: str, credentials: grpc.ChannelCredentials | None) -> str:
    """`SERVING`, or the failed call's code and details."""
    channel = (
        grpc.insecure_channel(target)
        if credentials is None
        else grpc.secure_channel(target, credentials)
    )
    with channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        except grpc.RpcError as error:
            assert isinstance(error, grpc.Call)
            return f"{error.code().name}: {error.details()}"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def test_tls_server_answers_a_client_trusting_its_ca(
    tls_server: TlsServer, server_identity: IdentityFiles
) -> None:
    assert _health(tls_server.target, channel_credentials(server_identity.ca)) == "SERVING"


def test_tls_server_refuses_a_plaintext_client(tls_server: TlsServer) -> None:
    assert _health(tls_server.target, None).startswith("UNAVAILABLE")


def test_tls_client_fails_against_another_ca(tls_server: TlsServer, tmp_path: Path) -> None:
    stranger = write_identity(tmp_path / "stranger", new_authority("another CA"), "order-api")

    answer = _health(tls_server.target, channel_credentials(stranger.ca))

    assert answer.startswith("UNAVAILABLE")
    assert "CERTIFICATE_VERIFY_FAILED" in answer


def test_mtls_server_answers_a_client_certificate_from_its_ca(
    mtls_server: TlsServer, server_identity: IdentityFiles, client_identity: IdentityFiles
) -> None:
    credentials = channel_credentials(server_identity.ca, client_identity)

    assert _health(mtls_server.target, credentials) == "SERVING"


def test_mtls_server_refuses_a_client_without_a_certificate(
    mtls_server: TlsServer, server_identity: IdentityFiles
) -> None:
    assert _health(mtls_server.target, channel_credentials(server_identity.ca)).startswith(
        "UNAVAILABLE"
    )


def test_mtls_server_refuses_a_client_certificate_from_another_ca(
    mtls_server: TlsServer, server_identity: IdentityFiles, tmp_path: Path
) -> None:
    stranger = write_identity(tmp_path / "stranger", new_authority("another CA"), "web-gateway")

    answer = _health(mtls_server.target, channel_credentials(server_identity.ca, stranger))

    assert answer.startswith("UNAVAILABLE")


def test_rotated_certificate_is_served_to_new_connections_without_a_failed_call(
    mtls_server: TlsServer,
    server_identity: IdentityFiles,
    client_identity: IdentityFiles,
    authority: Authority,
    tmp_path: Path,
) -> None:
    credentials = channel_credentials(server_identity.ca, client_identity)
    before = served_certificate(mtls_server.port, server_identity.ca, client_identity)
    answers: list[str] = []
    stop = threading.Event()

    def call_on_new_connections() -> None:
        while not stop.is_set() or len(answers) < 20:
            answers.append(_health(mtls_server.target, credentials))

    caller = threading.Thread(target=call_on_new_connections)
    caller.start()
    try:
        # What a rotation tool does: new files written, then renamed over the old ones.
        rotated = write_identity(tmp_path / "rotated", authority, "order-api")
        rotated.key.replace(server_identity.key)
        rotated.cert.replace(server_identity.cert)
        after = served_certificate(mtls_server.port, server_identity.ca, client_identity)
    finally:
        stop.set()
        caller.join(timeout=60)

    assert after.serial_number != before.serial_number
    assert set(answers) == {"SERVING"}
    assert _health(mtls_server.target, credentials) == "SERVING"


def test_rotated_pair_that_does_not_match_keeps_the_previous_one_with_a_warning(
    mtls_server: TlsServer,
    server_identity: IdentityFiles,
    client_identity: IdentityFiles,
    authority: Authority,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = served_certificate(mtls_server.port, server_identity.ca, client_identity)
    other = write_identity(tmp_path / "other", authority, "order-api")
    caplog.set_level(logging.WARNING)

    other.cert.replace(server_identity.cert)  # the new certificate without its key

    after = served_certificate(mtls_server.port, server_identity.ca, client_identity)
    assert after.serial_number == before.serial_number
    assert "keeping the previous TLS files" in caplog.text
    assert "TEST_KEY=" in caplog.text and "does not match the certificate" in caplog.text
    credentials = channel_credentials(server_identity.ca, client_identity)
    assert _health(mtls_server.target, credentials) == "SERVING"


def test_expired_certificate_is_refused_naming_the_variable(
    tmp_path: Path, authority: Authority
) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    expired = write_identity(
        tmp_path / "expired",
        authority,
        "order-api",
        not_before=past,
        not_after=past + datetime.timedelta(days=1),
    )

    with pytest.raises(ConfigError, match=r"^TEST_CERT='.*': certificate .* expired at "):
        tls.server_credentials(key_pair_files(expired, client_ca=False))


def test_unreadable_key_is_refused_naming_the_variable(
    server_identity: IdentityFiles,
) -> None:
    files = key_pair_files(server_identity, client_ca=False)
    server_identity.key.unlink()

    with pytest.raises(ConfigError, match=r"^TEST_KEY='.*': cannot read: No such file"):
        tls.server_credentials(files)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ORDER_API_TLS_CERT": "/c"}, "ORDER_API_TLS_CERT is set but ORDER_API_TLS_KEY is not"),
        ({"ORDER_API_TLS_KEY": "/k"}, "ORDER_API_TLS_KEY is set but ORDER_API_TLS_CERT is not"),
        ({"ORDER_API_TLS_CLIENT_CA": "/ca"}, "ORDER_API_TLS_CLIENT_CA is set but"),
    ],
)
def test_incomplete_variables_are_refused_naming_them(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        tls.files_from_env(environ, tls.GRPC_VARIABLES)


def test_no_variables_mean_plaintext() -> None:
    assert tls.files_from_env({}, tls.GRPC_VARIABLES) is None


def test_plaintext_health_port_answers_health_checks_and_nothing_else() -> None:
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    server, port = create_health_server("127.0.0.1:0", health_servicer)
    server.start()
    try:
        assert _health(f"127.0.0.1:{port}", None) == "SERVING"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = orders_pb2_grpc.OrderServiceStub(channel)
            with pytest.raises(grpc.RpcError) as error:
                stub.GetOrder(orders_pb2.GetOrderRequest(id="o-1"), timeout=10)
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(None).wait()
