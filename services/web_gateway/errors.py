"""Every error the gateway answers, as one JSON shape: `{"error": {"code", "message"}}`.

`ApiError` carries the HTTP status, a snake_case code and a message safe to show
the caller. gRPC failures map to HTTP statuses here and only here:
INVALID_ARGUMENT → 400, NOT_FOUND → 404, ALREADY_EXISTS → 409, UNAVAILABLE and
RESOURCE_EXHAUSTED → 503, DEADLINE_EXCEEDED → 504, anything else → 502. The
order-api's messages are passed on only for the 4xx codes (they name the bad
field); 5xx answers carry a fixed message and the details go to the log, as do
unhandled exceptions (500). Werkzeug's HTTP errors (404, 405, 413 …) are
rewritten as JSON with their headers (e.g. `Allow`) kept.
"""

from __future__ import annotations

import logging
import re

import grpc
from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

logger = logging.getLogger(__name__)

_HTTP_STATUS_BY_GRPC_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
_SERVER_ERROR_MESSAGES = {
    grpc.StatusCode.UNAVAILABLE: "the order service is unavailable",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "the order service is overloaded",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the order service did not answer in time",
}
_BAD_GATEWAY = (502, "bad_gateway", "the order service failed")


class ApiError(Exception):
    """An error answer: HTTP status, snake_case code and a message for the caller."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def invalid_argument(field: str, reason: str) -> ApiError:
    """A 400 blaming one request field, worded like the order-api's own: `field: reason`."""
    return ApiError(400, "invalid_argument", f"{field}: {reason}")


def from_rpc_error(error: grpc.RpcError) -> ApiError:
    """Map a failed order-api call to the answer the gateway gives."""
    code, details = _status_of(error)
    status = _HTTP_STATUS_BY_GRPC_CODE.get(code)
    if status is None:
        logger.warning("order-api call failed: %s %s", code.name, details)
        return ApiError(*_BAD_GATEWAY)
    if status >= 500:
        logger.warning("order-api call failed: %s %s", code.name, details)
        return ApiError(status, code.name.lower(), _SERVER_ERROR_MESSAGES[code])
    return ApiError(status, code.name.lower(), details or code.name.lower())


def error_response(status: int, code: str, message: str) -> Response:
    """The JSON answer for an error."""
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Make every error `app` answers a JSON error document."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(grpc.RpcError, _rpc_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _status_of(error: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    if not isinstance(error, grpc.Call):  # a bare RpcError carries no status
        return grpc.StatusCode.UNKNOWN, ""
    return error.code(), error.details() or ""


def _api_error(error: ApiError) -> Response:
    response = error_response(error.status, error.code, error.message)
    response.headers.update(error.headers)
    return response


def _rpc_error(error: grpc.RpcError) -> Response:
    return _api_error(from_rpc_error(error))


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    message = error.description or error.name
    if isinstance(error, RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        message = f"the request body is larger than {limit} bytes"
    response = error_response(status, _snake_case(error.name), message)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected_error(error: Exception) -> Response:
    logger.error("unhandled error while serving a request", exc_info=error)
    return error_response(500, "internal", "internal server error")


def _snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
