"""Every error answer is `{"error": {"code", "message"}}` JSON with the mapped HTTP status."""

from __future__ import annotations

import io
import logging

import grpc
import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.order_api.faults import FaultPlan, MethodFaults
from services.order_api.servicer import OrderServicer
from services.web_gateway.app import MAX_BODY_BYTES
from services.web_gateway.errors import ApiError, from_rpc_error
from tests.web_gateway.bodies import MakeGateway, StartOrderApi, error_of

INJECTED = "injected fault on GetOrder"


def failing_gateway(
    start_order_api: StartOrderApi, make_gateway: MakeGateway, code: grpc.StatusCode
) -> FlaskClient:
    """A gateway in front of an order-api whose GetOrder always fails with `code`."""
    faults = FaultPlan({"GetOrder": MethodFaults(error_ratio=1.0, error_code=code)})
    order_api = start_order_api(servicer=lambda store: OrderServicer(store, faults=faults))
    return make_gateway(order_api.target)


@pytest.mark.parametrize(
    ("code", "status", "error_code"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid_argument"),
        (grpc.StatusCode.NOT_FOUND, 404, "not_found"),
        (grpc.StatusCode.ALREADY_EXISTS, 409, "already_exists"),
        (grpc.StatusCode.UNAVAILABLE, 503, "unavailable"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 503, "resource_exhausted"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "deadline_exceeded"),
        (grpc.StatusCode.INTERNAL, 502, "bad_gateway"),
        (grpc.StatusCode.UNKNOWN, 502, "bad_gateway"),
        (grpc.StatusCode.PERMISSION_DENIED, 502, "bad_gateway"),
        (grpc.StatusCode.FAILED_PRECONDITION, 502, "bad_gateway"),
    ],
    ids=lambda value: value.name if isinstance(value, grpc.StatusCode) else None,
)
def test_grpc_status_maps_to_http_status(
    start_order_api: StartOrderApi,
    make_gateway: MakeGateway,
    code: grpc.StatusCode,
    status: int,
    error_code: str,
) -> None:
    http = failing_gateway(start_order_api, make_gateway, code)

    response = http.get("/orders/some-order")

    assert response.status_code == status
    assert error_of(response)["code"] == error_code


def test_client_error_passes_the_order_apis_message_on(
    start_order_api: StartOrderApi, make_gateway: MakeGateway
) -> None:
    http = failing_gateway(start_order_api, make_gateway, grpc.StatusCode.INVALID_ARGUMENT)

    assert error_of(http.get("/orders/some-order"))["message"] == INJECTED


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL])
def test_server_error_keeps_the_order_apis_message_in_the_log(
    start_order_api: StartOrderApi,
    make_gateway: MakeGateway,
    caplog: pytest.LogCaptureFixture,
    code: grpc.StatusCode,
) -> None:
    http = failing_gateway(start_order_api, make_gateway, code)

    with caplog.at_level(logging.WARNING, logger="services.web_gateway"):
        response = http.get("/orders/some-order")

    assert INJECTED not in response.get_data(as_text=True)
    assert INJECTED in caplog.text


def test_bare_rpc_error_is_bad_gateway() -> None:
    error = from_rpc_error(grpc.RpcError())

    assert (error.status, error.code) == (502, "bad_gateway")


def test_unknown_route_is_json_404(http: FlaskClient) -> None:
    response = http.get("/no/such/route")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_wrong_method_is_json_405_with_allow(http: FlaskClient) -> None:
    response = http.delete("/orders")

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))


def test_oversize_body_is_json_413(http: FlaskClient) -> None:
    response = http.post(
        "/orders", data=b" " * (MAX_BODY_BYTES + 1), content_type="application/json"
    )

    assert response.status_code == 413
    assert error_of(response) == {
        "code": "request_entity_too_large",
        "message": f"the request body is larger than {MAX_BODY_BYTES} bytes",
    }


def test_chunked_body_over_the_limit_is_json_413(http: FlaskClient) -> None:
    response = http.post(
        "/orders",
        input_stream=io.BytesIO(b"{}" + b" " * MAX_BODY_BYTES),
        headers={"Transfer-Encoding": "chunked"},
        content_type="application/json",
        # What a server that decodes chunked bodies says (waitress does): the stream ends.
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert response.status_code == 413
    assert error_of(response)["code"] == "request_entity_too_large"


def test_body_of_exactly_the_limit_is_read(http: FlaskClient) -> None:
    response = http.post("/orders", data=b" " * MAX_BODY_BYTES, content_type="application/json")

    assert response.status_code == 400  # read and found not to be JSON, not refused as too large


def test_api_error_is_answered_as_is(http: FlaskClient) -> None:
    app: Flask = http.application

    @app.get("/teapot")
    def teapot() -> str:
        raise ApiError(418, "teapot", "short and stout")

    response = http.get("/teapot")

    assert response.status_code == 418
    assert error_of(response) == {"code": "teapot", "message": "short and stout"}


def test_unhandled_exception_is_generic_json_500_and_logged(
    http: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    app: Flask = http.application

    @app.get("/explode")
    def explode() -> str:
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR, logger="services.web_gateway"):
        response = http.get("/explode")

    assert response.status_code == 500
    assert error_of(response) == {"code": "internal", "message": "internal server error"}
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    [record] = caplog.records
    assert record.exc_info is not None
    assert "secret internals" in str(record.exc_info[1])
