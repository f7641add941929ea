"""The web-gateway's application factory.

Request bodies are limited to MAX_BODY_BYTES (64 KiB): the largest valid order
(100 items, every id 64 characters) takes under 16 KiB even pretty-printed, so
anything near the limit is a mistake or abuse. Flask answers it with a JSON 413
without reading it (chunked bodies: once 64 KiB have been read).
"""

from __future__ import annotations

from flask import Flask

from otel import prometheus, wsgi_middleware
from otel.sdk import Telemetry
from services.web_gateway import errors, routes
from services.web_gateway.client import OrderClient
from services.web_gateway.config import Config

MAX_BODY_BYTES = 64 * 1024


def create_app(
    config: Config | None = None,
    *,
    client: OrderClient | None = None,
    telemetry: Telemetry | None = None,
    render_metrics: prometheus.Render | None = None,
) -> Flask:
    """Build the gateway app; without `client`, one is made from `config` (closed by the caller).

    The client is kept in `app.extensions[routes.CLIENT_EXTENSION]`. Without
    `telemetry` (or with disabled telemetry) nothing is instrumented and
    `/metrics` answers 404. `render_metrics` answers `/metrics` instead of the
    telemetry's own registry (a worker process answering for all of them).
    """
    config = config or Config()
    client = client or OrderClient(config.order_api_target, config.order_api_timeout)
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config[routes.METRICS_TOKEN_CONFIG] = config.metrics_token
    app.extensions[routes.CLIENT_EXTENSION] = client
    app.extensions[routes.TELEMETRY_EXTENSION] = telemetry
    app.extensions[routes.RENDER_METRICS_EXTENSION] = render_metrics
    app.register_blueprint(routes.blueprint)
    errors.register_error_handlers(app)
    if telemetry is not None:
        wsgi_middleware.instrument_app(app, telemetry)
    return app
