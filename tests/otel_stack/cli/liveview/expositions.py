"""Expositions of both services before and after an interval, and readings of them."""

from __future__ import annotations

from otel_stack.cli.liveview.reading import Reading
from otel_stack.harness.latency import LatencyRecorder
from otel_stack.harness.scrape import Exposition

ROUTE = 'method="GET",route="/orders/<order_id>"'


def _histogram(status: str, buckets: dict[str, float]) -> str:
    """Exposition lines of one http_request_duration_seconds series."""
    name, labels = "http_request_duration_seconds", f'{ROUTE},status_code="{status}"'
    lines = [f'{name}_bucket{{{labels},le="{le}"}} {count}' for le, count in buckets.items()]
    lines.append(f"{name}_count{{{labels}}} {buckets['+Inf']}")
    lines.append(f"{name}_sum{{{labels}}} 1.0")
    return "\n".join(lines) + "\n"


GATEWAY_BEFORE = (
    "# TYPE http_requests_total counter\n"
    f'http_requests_total{{{ROUTE},status_code="200"}} 100.0\n'
    f'http_requests_total{{{ROUTE},status_code="503"}} 0.0\n'
    "# TYPE http_request_duration_seconds histogram\n"
    + _histogram("200", {"0.001": 0, "0.01": 100, "0.1": 100, "+Inf": 100})
)


# 20 more requests in 2 s: 15 OK (all in (0.01, 0.1]) and 5 answered 503 (in (0.001, 0.01]).
GATEWAY_AFTER = (
    "# TYPE http_requests_total counter\n"
    f'http_requests_total{{{ROUTE},status_code="200"}} 115.0\n'
    f'http_requests_total{{{ROUTE},status_code="503"}} 5.0\n'
    "# TYPE http_request_duration_seconds histogram\n"
    + _histogram("200", {"0.001": 0, "0.01": 100, "0.1": 115, "+Inf": 115})
    + _histogram("503", {"0.001": 0, "0.01": 5, "0.1": 5, "+Inf": 5})
)


ORDER_API_BEFORE = """\
# TYPE grpc_requests_total counter
grpc_requests_total{method="GetOrder",status="OK"} 100.0
grpc_requests_total{method="CreateOrder",status="OK"} 10.0
# TYPE orders_created_total counter
orders_created_total 10.0
"""


ORDER_API_AFTER = """\
# TYPE grpc_requests_total counter
grpc_requests_total{method="GetOrder",status="OK"} 115.0
grpc_requests_total{method="GetOrder",status="UNAVAILABLE"} 5.0
grpc_requests_total{method="GetOrder",status="NOT_FOUND"} 2.0
grpc_requests_total{method="CreateOrder",status="OK"} 14.0
# TYPE orders_created_total counter
orders_created_total 14.0
"""


def reading(at: float, gateway: str, order_api: str) -> Reading:
    """A reading at monotonic time `at` of the two expositions given as text."""
    return Reading(at, Exposition.parse(gateway), Exposition.parse(order_api))


def window_readings() -> tuple[Reading, Reading]:
    """The readings before and after the 2 s interval the tests share."""
    return (
        reading(10.0, GATEWAY_BEFORE, ORDER_API_BEFORE),
        reading(12.0, GATEWAY_AFTER, ORDER_API_AFTER),
    )


def client_latencies(*latencies: float) -> dict[str, list[tuple[float, float]]]:
    """The traffic generator's cumulative buckets of one route after these requests."""
    recorder = LatencyRecorder()
    for seconds in latencies:
        recorder.record(seconds)
    return {"GET /orders/<order_id>": recorder.cumulative()}


def traced_gateway(exemplars: dict[str, str]) -> Exposition:
    """An OpenMetrics exposition of one route with exemplars ('le': '# {trace_id="…"} v ts')."""
    name, labels = "http_request_duration_seconds", f'{ROUTE},status_code="200"'
    counts = {"0.01": 1, "0.1": 2, "1.0": 3, "+Inf": 3}
    lines = ["# TYPE http_requests counter", f"http_requests_total{{{labels}}} 3.0"]
    lines.append(f"# TYPE {name} histogram")
    for le, count in counts.items():
        exemplar = f" {exemplars[le]}" if le in exemplars else ""
        lines.append(f'{name}_bucket{{{labels},le="{le}"}} {count}{exemplar}')
    lines += [f"{name}_count{{{labels}}} 3", f"{name}_sum{{{labels}}} 0.6", "# EOF"]
    return Exposition.parse("\n".join(lines) + "\n", openmetrics=True)
