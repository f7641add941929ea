"""Flask instrumentation: the upstream instrumentation plus the contract's request metrics.

`instrument_app` adds `opentelemetry-instrumentation-flask` (unless the launcher
already instrumented Flask globally) for spans and the semconv
`http_server_request_duration_seconds`, and two request hooks that record
`http_requests_total` and `http_request_duration_seconds` with bounded labels:
the matched URL rule (`unmatched` when none matched) and the method
(`_OTHER` when not a standard one). Scrapes of `/metrics` are not recorded.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from opentelemetry.instrumentation.flask import FlaskInstrumentor

from otel import settings
from otel.instruments import HTTP_METHODS, OTHER_METHOD, UNMATCHED_ROUTE, HttpServerMetrics
from otel.sdk import Telemetry

_EXCLUDED_RULES = frozenset((settings.METRICS_PATH,))


def instrument_app(app: Flask, telemetry: Telemetry) -> None:
    """Instrument `app` for `telemetry`; does nothing when telemetry is disabled."""
    if not telemetry.enabled:
        return
    _add_upstream_instrumentation(app, telemetry)
    metrics = HttpServerMetrics(telemetry.meter_provider)

    def start_timer() -> None:
        g.otel_stack_started = time.perf_counter()

    def record(response: Response) -> Response:
        started: float | None = g.pop("otel_stack_started", None)
        rule = request.url_rule
        if started is None or (rule is not None and rule.rule in _EXCLUDED_RULES):
            return response
        method = request.method if request.method in HTTP_METHODS else OTHER_METHOD
        route = rule.rule if rule is not None else UNMATCHED_ROUTE
        metrics.record(method, route, response.status_code, time.perf_counter() - started)
        return response

    # First in line, so the timer covers every other before_request hook.
    app.before_request_funcs.setdefault(None, []).insert(0, start_timer)
    app.after_request(record)


def _add_upstream_instrumentation(app: Flask, telemetry: Telemetry) -> None:
    if settings.already_instrumented(FlaskInstrumentor):
        return  # the launcher replaced flask.Flask, so `app` is instrumented already
    settings.ensure_stable_http_semconv()
    FlaskInstrumentor.instrument_app(  # type: ignore[no-untyped-call]
        app,
        meter_provider=telemetry.meter_provider,
        tracer_provider=telemetry.tracer_provider,
        excluded_urls=settings.flask_excluded_urls(),
    )
