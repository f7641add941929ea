"""Label cardinality stays bounded whatever paths and methods clients send."""

from __future__ import annotations

import random
import string

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry

from otel.sdk import Telemetry
from otel.views import default_views
from otel_stack.harness.scrape import SCOPE_LABELS
from services.web_gateway.app import create_app
from services.web_gateway.client import OrderClient

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "PROPFIND", "X"]


def _random_path(rng: random.Random) -> str:
    segments = [
        "".join(rng.choices(string.ascii_letters + string.digits + "-._~%", k=rng.randint(1, 12)))
        for _ in range(rng.randint(1, 4))
    ]
    prefix = rng.choice(["", "orders/", "metricsz/", "healthz/"])
    query = (
        f"?{rng.choice(string.ascii_lowercase)}={rng.randint(0, 10**9)}"
        if rng.random() < 0.5
        else ""
    )
    return "/" + prefix + "/".join(segments) + query


def test_random_paths_and_methods_leave_a_bounded_number_of_series() -> None:
    registry = CollectorRegistry()
    provider = MeterProvider(
        metric_readers=[PrometheusMetricReader(scope_info_enabled=False, registry=registry)],
        views=default_views(),
    )
    telemetry = Telemetry("web-gateway", provider, NoOpTracerProvider(), registry)
    client = OrderClient("127.0.0.1:1", 0.5)
    app = create_app(client=client, telemetry=telemetry)
    test_client = app.test_client()
    rng = random.Random(7)

    def send(count: int) -> None:
        for _ in range(count):
            response = test_client.open(_random_path(rng), method=rng.choice(METHODS))
            assert response.status_code < 500 or response.status_code == 503

    def series() -> list[str]:
        body = test_client.get("/metrics").get_data(as_text=True)
        assert not any(label in body for label in SCOPE_LABELS)
        return [line for line in body.splitlines() if line and not line.startswith("#")]

    send(500)
    after_500 = series()
    send(1500)
    after_2000 = series()
    client.close()

    # 1,500 more distinct paths add at most a few label sets (method/status pairs not
    # seen before, ~24 lines each with both histograms), never a series per path.
    assert len(after_2000) - len(after_500) <= 120, len(after_2000) - len(after_500)
    assert len(after_2000) <= 600, len(after_2000)
    label_sets = {
        line.split("{", 1)[1].split("}", 1)[0]
        for line in after_2000
        if line.startswith("http_requests_total")
    }
    # method (standard ones and _OTHER) x route x status stays small.
    assert len(label_sets) <= 30, sorted(label_sets)
