"""The REST API: orders, liveness, readiness and the OpenAPI document.

Handlers turn HTTP into order-api calls and back; failed calls raise
grpc.RpcError, which `errors` maps to the answer. `GET /orders/<order_id>`
answers 404 without calling the order-api when the id breaks the order-api's
identifier rules (longer than 64 characters, or characters other than
A-Z a-z 0-9 . _ : -): no order can have such an id.
"""

from __future__ import annotations

import functools
import hmac
from importlib import resources

from flask import Blueprint, Response, current_app, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from otel import prometheus
from otel.sdk import Telemetry
from services.web_gateway import convert
from services.web_gateway.client import OrderClient
from services.web_gateway.errors import ApiError

CLIENT_EXTENSION = "web_gateway.order_client"
TELEMETRY_EXTENSION = "web_gateway.telemetry"
RENDER_METRICS_EXTENSION = "web_gateway.render_metrics"
METRICS_TOKEN_CONFIG = "GATEWAY_METRICS_TOKEN"  # noqa: S105 (a config key)
JSON_MEDIA_TYPE = "application/json"

blueprint = Blueprint("api", __name__)


def order_client() -> OrderClient:
    """The order-api client of the current app."""
    client: OrderClient = current_app.extensions[CLIENT_EXTENSION]
    return client


@blueprint.post("/orders")
def create_order() -> ResponseReturnValue:
    """Create an order: 201, or 200 when an Idempotency-Key retry found the order created before."""
    if request.mimetype != JSON_MEDIA_TYPE:
        raise ApiError(415, "unsupported_media_type", "the body must be application/json")
    create_request = convert.create_order_request(
        _request_body(),
        convert.idempotency_key(request.headers.get(convert.IDEMPOTENCY_KEY_HEADER)),
    )
    response = order_client().create_order(create_request)
    location = url_for("api.get_order", order_id=response.order.id)
    status = 201 if response.created else 200
    return convert.order_to_json(response.order), status, {"Location": location}


@blueprint.get("/orders/<order_id>")
def get_order(order_id: str) -> ResponseReturnValue:
    """Return one order, or 404."""
    if not convert.is_order_id(order_id):
        raise ApiError(404, "not_found", "order not found")
    return convert.order_to_json(order_client().get_order(order_id))


@blueprint.get("/orders")
def list_orders() -> ResponseReturnValue:
    """Return one page of orders in creation order, optionally of one customer."""
    response = order_client().list_orders(
        request.args.get("customer_id", ""),
        convert.page_size(request.args.get("page_size")),
        request.args.get("page_token", ""),
    )
    return convert.orders_page_to_json(response)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness: the process answers HTTP (the order-api is not consulted)."""
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness: 200 only while the order-api's health service says SERVING."""
    if not order_client().check_health():
        raise ApiError(503, "not_ready", "the order service is not serving")
    return {"status": "ready"}


@blueprint.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    """The OpenAPI 3.0 description of this API."""
    return Response(_openapi_bytes(), mimetype=JSON_MEDIA_TYPE)


@blueprint.get("/metrics")
def metrics() -> ResponseReturnValue:
    """The gateway's metrics in the Prometheus text format (OpenMetrics when asked for)."""
    _check_metrics_token()
    telemetry: Telemetry | None = current_app.extensions[TELEMETRY_EXTENSION]
    if telemetry is None or not telemetry.enabled:
        raise ApiError(404, "telemetry_disabled", "telemetry is disabled (OTEL_SDK_DISABLED)")
    if telemetry.prometheus_registry is None:
        raise ApiError(
            404, "not_found", "metrics are not exported to Prometheus (see OTEL_METRICS_EXPORTER)"
        )
    render: prometheus.Render | None = current_app.extensions.get(RENDER_METRICS_EXTENSION)
    accept = request.headers.get("Accept")
    if render is not None:
        body, content_type = render(accept)
    else:
        body, content_type = prometheus.render(telemetry.prometheus_registry, accept)
    return Response(body, content_type=content_type)


def _check_metrics_token() -> None:
    """With a configured token, only `Authorization: Bearer <token>` may scrape (else 401)."""
    token: str | None = current_app.config[METRICS_TOKEN_CONFIG]
    if token is None:
        return
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(offered.encode(), token.encode()):
        return
    raise ApiError(
        401,
        "unauthorized",
        "GET /metrics needs the configured bearer token",
        {"WWW-Authenticate": 'Bearer realm="metrics"'},
    )


def _request_body() -> bytes:
    """The body, at most MAX_CONTENT_LENGTH bytes; RequestEntityTooLarge (413) beyond."""
    body = request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    # Werkzeug checks Content-Length up front, but a chunked body is only cut off at the
    # limit, silently: one that reaches it is taken to have been longer.
    if request.content_length is None and len(body) >= limit:
        raise RequestEntityTooLarge()
    return body


@functools.cache
def _openapi_bytes() -> bytes:
    return resources.files(__package__).joinpath("openapi.json").read_bytes()
