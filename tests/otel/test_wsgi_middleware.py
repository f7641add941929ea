"""The Flask hooks: contract metrics with bounded labels, plus the upstream semconv histogram."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask
from opentelemetry import context

from otel import wsgi_middleware
from otel.sdk import Telemetry
from tests.otel.conftest import Recorded

# Where the upstream Flask instrumentation puts framework/route tags for sqlcommenter.
SQLCOMMENTER_KEY = "SQLCOMMENTER_ORM_TAGS_AND_VALUES"


def _app(recorded: Recorded) -> Flask:
    app = Flask("hooks-test")

    @app.get("/items/<item_id>")
    def get_item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @app.post("/items")
    def create_item() -> tuple[dict[str, str], int]:
        return {}, 201

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("unhandled")

    @app.get("/metrics")
    def metrics() -> str:
        return ""

    wsgi_middleware.instrument_app(app, recorded.telemetry)
    return app


def _requests(recorded: Recorded, **labels: str) -> float:
    return recorded.count("http.requests", **labels)


def test_route_label_is_the_url_rule_not_the_path(recorded: Recorded) -> None:
    client = _app(recorded).test_client()
    for item_id in ("a", "b", "c"):
        assert client.get(f"/items/{item_id}").status_code == 200

    labels = {"method": "GET", "route": "/items/<item_id>", "status_code": "200"}
    assert _requests(recorded, **labels) == 3
    assert recorded.count("http.request.duration", **labels) == 3


def test_unmatched_route_is_labelled_unmatched(recorded: Recorded) -> None:
    client = _app(recorded).test_client()
    client.get("/no/such/path")
    client.get("/another/random/path")

    assert _requests(recorded, method="GET", route="unmatched", status_code="404") == 2


def test_method_not_allowed_is_labelled_unmatched(recorded: Recorded) -> None:
    client = _app(recorded).test_client()
    assert client.delete("/items/a").status_code == 405

    assert _requests(recorded, method="DELETE", route="unmatched", status_code="405") == 1


def test_non_standard_method_is_labelled_other(recorded: Recorded) -> None:
    client = _app(recorded).test_client()
    client.open("/items/a", method="BREW")

    assert _requests(recorded, method="_OTHER", route="unmatched", status_code="405") == 1


def test_unhandled_exception_is_counted_as_500(recorded: Recorded) -> None:
    app = _app(recorded)
    app.testing = False  # let Flask turn the exception into a 500 as in production
    assert app.test_client().get("/boom").status_code == 500

    assert _requests(recorded, method="GET", route="/boom", status_code="500") == 1


def test_metrics_scrapes_are_not_counted(recorded: Recorded) -> None:
    client = _app(recorded).test_client()
    client.get("/metrics")
    client.post("/items")

    routes = {dict(key)["route"] for key in recorded.points("http.requests")}
    assert routes == {"/items"}
    semconv_routes = {
        dict(key).get("http.route") for key in recorded.points("http.server.request.duration")
    }
    assert semconv_routes == {"/items"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_upstream_semconv_histogram_is_in_seconds(recorded: Recorded, method: str) -> None:
    client = _app(recorded).test_client()
    client.open("/items" if method == "POST" else "/items/a", method=method)

    metric = recorded.metrics()["http.server.request.duration"]
    assert metric.unit == "s"
    keys = {key for point in metric.data.data_points for key in (point.attributes or {})}
    assert {"http.request.method", "http.route", "http.response.status_code"} <= keys
    assert "http.host" not in keys and "http.target" not in keys


def test_disabled_telemetry_adds_nothing() -> None:
    app = Flask("disabled")
    original = app.wsgi_app

    wsgi_middleware.instrument_app(app, Telemetry.disabled("x"))

    assert app.wsgi_app == original  # no recording middleware
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)  # no upstream hooks
    assert app.before_request_funcs == {}
    assert app.after_request_funcs == {}


def test_enabled_telemetry_wraps_the_wsgi_app(recorded: Recorded) -> None:
    app = Flask("enabled")
    original = app.wsgi_app

    wsgi_middleware.instrument_app(app, recorded.telemetry)

    assert isinstance(app.wsgi_app, wsgi_middleware.RequestMetricsMiddleware)
    assert app.wsgi_app != original


def test_disabling_flask_drops_the_upstream_histogram_but_keeps_the_contract(
    recorded: Recorded,
) -> None:
    lean = replace(recorded.telemetry, disabled_instrumentations=frozenset({"flask"}))
    app = _app(Recorded(lean, recorded.reader))
    app.test_client().get("/items/a")

    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert "http.server.request.duration" not in recorded.metrics()
    assert "http.server.active_requests" not in recorded.metrics()
    assert _requests(recorded, method="GET", route="/items/<item_id>", status_code="200") == 1


def test_the_sqlcommenter_context_is_not_built(recorded: Recorded) -> None:
    app = _app(recorded)
    seen: list[object] = []

    @app.get("/context")
    def read_context() -> str:
        seen.append(context.get_value(SQLCOMMENTER_KEY))
        return ""

    assert app.test_client().get("/context").status_code == 200
    assert seen == [None]
