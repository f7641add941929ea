"""The WSGI middleware recording the contract's HTTP metrics, plus upstream Flask instrumentation.

`instrument_app` adds `opentelemetry-instrumentation-flask` for spans and the
semconv `http_server_request_duration_seconds` (unless
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names `flask`), and a WSGI middleware that records
`http_requests_total` and `http_request_duration_seconds` with bounded labels:
the matched URL rule (`unmatched` when none matched) and the method (`_OTHER`
when not a standard one), and writes the request's access line. Scrapes of
`/metrics` are not recorded.

A middleware rather than before/after-request hooks: it reads the environ and
the status line directly instead of going through Flask's context-local
proxies, which costs less per request (docs/benchmarks.md, section 1).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor

from otel import settings
from otel.access_log import AccessLog
from otel.instruments import HTTP_METHODS, OTHER_METHOD, UNMATCHED_ROUTE, HttpServerMetrics
from otel.sdk import Telemetry

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_EXCLUDED_RULES = frozenset((settings.METRICS_PATH,))
# Werkzeug's Request puts itself here (Flask clears it when the request context ends).
_REQUEST_KEY = "werkzeug.request"


def instrument_app(app: Flask, telemetry: Telemetry) -> None:
    """Instrument `app` for `telemetry`; does nothing when telemetry is disabled."""
    if not telemetry.enabled:
        return
    if telemetry.uses(settings.FLASK):
        _add_upstream_instrumentation(app, telemetry)
    app.wsgi_app = RequestMetricsMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, HttpServerMetrics(telemetry.meter_provider), telemetry.access_log
    )


class RequestMetricsMiddleware:
    """Times each request and records it with its method, URL rule and final status.

    The same values make the request's access line (see `otel.access_log`).
    """

    def __init__(
        self,
        wsgi_app: WSGIApplication,
        metrics: HttpServerMetrics,
        access_log: AccessLog | None = None,
    ) -> None:
        self._wsgi_app = wsgi_app
        self._metrics = metrics
        self._access_log = access_log if access_log is not None and access_log.enabled else None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        recorded = False

        def record_at_start(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            # Still inside Flask's request context: the matched rule is readable.
            nonlocal recorded
            recorded = True
            self._record(environ, int(status_line[:3]), time.perf_counter() - started)
            return start_response(status_line, headers, exc_info)

        try:
            return self._wsgi_app(environ, record_at_start)
        except Exception:
            if not recorded:
                self._record(environ, 500, time.perf_counter() - started)
            raise

    def _record(self, environ: WSGIEnvironment, status: int, seconds: float) -> None:
        request = environ.get(_REQUEST_KEY)
        rule = getattr(request, "url_rule", None)
        if rule is not None and rule.rule in _EXCLUDED_RULES:
            return
        method = environ.get("REQUEST_METHOD", "")
        if method not in HTTP_METHODS:
            method = OTHER_METHOD
        route = rule.rule if rule is not None else UNMATCHED_ROUTE
        self._metrics.record(method, route, status, seconds)
        if self._access_log is not None:
            self._access_log.request(method, route, status, seconds)


def _add_upstream_instrumentation(app: Flask, telemetry: Telemetry) -> None:
    if settings.already_instrumented(FlaskInstrumentor):
        return  # something replaced flask.Flask (another distro, say): `app` has it already
    settings.ensure_stable_http_semconv(os.environ)
    FlaskInstrumentor.instrument_app(  # type: ignore[no-untyped-call]
        app,
        meter_provider=telemetry.meter_provider,
        tracer_provider=telemetry.tracer_provider,
        excluded_urls=telemetry.flask_excluded_urls,
        # The sqlcommenter context is for ORMs; the gateway has no database, and building
        # it costs CPU on every request (docs/benchmarks.md, section 1).
        enable_commenter=False,
    )
