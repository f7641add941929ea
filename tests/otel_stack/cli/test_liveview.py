"""Rates, error ratios and quantiles between two scrapes, and their rendering (liveview.py)."""

from __future__ import annotations

from dataclasses import replace

from otel_stack.cli.liveview import (
    Latency,
    Reading,
    compare,
    format_latency,
    format_seconds,
    render,
)
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


def _reading(at: float, gateway: str, order_api: str) -> Reading:
    return Reading(at, Exposition.parse(gateway), Exposition.parse(order_api))


def _window() -> tuple[Reading, Reading]:
    return (
        _reading(10.0, GATEWAY_BEFORE, ORDER_API_BEFORE),
        _reading(12.0, GATEWAY_AFTER, ORDER_API_AFTER),
    )


def test_route_rate_counts_every_status_over_the_interval() -> None:
    window = compare(*_window())
    (route,) = window.routes
    assert route.name == "GET /orders/<order_id>"
    assert route.requests == 20
    assert route.rate == 10.0


def test_route_error_ratio_is_the_share_of_5xx() -> None:
    (route,) = compare(*_window()).routes
    assert route.error_ratio == 0.25


def test_route_quantiles_from_the_histogram_are_the_buckets_of_the_interval() -> None:
    (route,) = compare(*_window()).routes
    # 5 in (0.001, 0.01] and 15 in (0.01, 0.1]: p50 (rank 10) and p99 lie in the second bucket;
    # where inside it, the histogram does not say.
    assert route.quantiles == ((0.01, 0.1), (0.01, 0.1), (0.01, 0.1))


def _client(*latencies: float) -> dict[str, list[tuple[float, float]]]:
    recorder = LatencyRecorder()
    for seconds in latencies:
        recorder.record(seconds)
    return {"GET /orders/<order_id>": recorder.cumulative()}


def test_route_quantiles_are_the_clients_own_timings_of_the_interval() -> None:
    before, after = _window()
    earlier = [0.050] * 100  # before the interval: must not count
    during = [0.003] * 10 + [0.004] * 9 + [0.020]
    window = compare(
        replace(before, client=_client(*earlier)),
        replace(after, client=_client(*earlier, *during)),
    )
    (route,) = window.routes
    p50, p95, p99 = route.quantiles
    assert isinstance(p50, float) and 0.0029 < p50 < 0.0031
    assert isinstance(p95, float) and 0.0039 < p95 < 0.0041
    assert isinstance(p99, float) and 0.004 < p99 <= 0.0205


def test_the_view_says_where_its_latencies_come_from() -> None:
    before, after = _window()
    measured = compare(replace(before, client=_client()), replace(after, client=_client(0.003)))
    text = "\n".join(render(measured, title="t", urls={}))
    assert "3.0ms" in text and "timed by the traffic generator" in text
    assert "histogram bucket" not in text  # the order-api rows have no histogram here
    bucketed = "\n".join(render(compare(before, after), title="t", urls={}))
    assert "10-100ms" in bucketed and "histogram bucket" in bucketed
    assert "timed by the traffic generator" not in bucketed


def test_format_latency_shows_buckets_as_ranges() -> None:
    values: list[Latency | None] = [
        0.0033,
        (0.001, 0.01),
        (0.0, 0.001),
        (0.5, 1.0),
        (5.0, float("inf")),
        None,
    ]
    assert [format_latency(v) for v in values] == [
        "3.3ms",
        "1-10ms",
        "<=1ms",
        "500ms-1s",
        ">5s",
        "-",
    ]


def test_rpc_error_ratio_counts_server_faults_not_client_errors() -> None:
    window = compare(*_window())
    rows = {row.name: row for row in window.rpcs}
    # 22 GetOrder calls: 5 UNAVAILABLE are server faults, 2 NOT_FOUND are not.
    assert rows["GetOrder"].requests == 22
    assert rows["GetOrder"].error_ratio == 5 / 22
    assert rows["CreateOrder"].error_ratio == 0.0


def test_orders_created_is_the_counter_increase() -> None:
    window = compare(*_window())
    assert (window.orders_created, window.orders_total) == (4.0, 14.0)


def test_rows_without_requests_show_no_ratio_or_quantiles() -> None:
    before, _ = _window()
    window = compare(before, Reading(12.0, before.gateway, before.order_api))
    (route,) = window.routes
    assert route.rate == 0.0
    assert route.error_ratio is None
    assert route.quantiles == (None, None, None)


def test_failed_scrape_is_shown_not_raised() -> None:
    before, _ = _window()
    window = compare(before, Reading(12.0, None, None, ("cannot scrape x: refused",)))
    lines = render(window, title="t", urls={})
    assert "! cannot scrape x: refused" in lines


def test_render_is_plain_ascii_with_rates_and_urls() -> None:
    lines = render(compare(*_window()), title="title", urls={"prometheus": "http://p:9090"})
    text = "\n".join(lines)
    assert text.isascii() and "\x1b" not in text
    assert "GET /orders/<order_id>" in text and "10.0" in text and "25.0%" in text
    assert "prometheus: http://p:9090" in text
    assert "orders created: 14 total, +4 in 2.0s (2.0/s)" in text


def test_format_seconds_picks_a_readable_unit() -> None:
    assert [format_seconds(v) for v in (None, 0.0005, 0.0123, 1.5)] == [
        "-",
        "500us",
        "12.3ms",
        "1.50s",
    ]


def test_probe_routes_are_not_shown_as_traffic() -> None:
    probes = (
        'http_requests_total{method="GET",route="/readyz",status_code="200"} 3.0\n'
        'http_requests_total{method="GET",route="/healthz",status_code="200"} 9.0\n'
    )
    before = _reading(0.0, GATEWAY_BEFORE, ORDER_API_BEFORE)
    after = _reading(
        2.0,
        GATEWAY_AFTER.replace(
            "# TYPE http_request_duration", probes + "# TYPE http_request_duration", 1
        ),
        ORDER_API_AFTER,
    )

    window = compare(before, after)

    assert [row.name for row in window.routes] == ["GET /orders/<order_id>"]


def _merged(at: float, gateway: str, order_api: str, instances: int) -> Reading:
    """A reading of `instances` replicas that each exposed the same series."""
    return Reading(
        at,
        Exposition.merge([Exposition.parse(gateway)] * instances),
        Exposition.merge([Exposition.parse(order_api)] * instances),
    )


def test_replicas_are_summed_like_sum_by_job() -> None:
    single = compare(*_window())

    merged = compare(
        _merged(10.0, GATEWAY_BEFORE, ORDER_API_BEFORE, 3),
        _merged(12.0, GATEWAY_AFTER, ORDER_API_AFTER, 3),
    )

    assert [row.requests for row in merged.routes] == [3 * r.requests for r in single.routes]
    assert [row.requests for row in merged.rpcs] == [3 * r.requests for r in single.rpcs]
    assert [row.error_ratio for row in merged.rpcs] == [r.error_ratio for r in single.rpcs]
    # The same buckets hold the quantiles of three identical instances as of one.
    assert [row.quantiles for row in merged.routes] == [r.quantiles for r in single.routes]
    assert merged.orders_total == 3 * single.orders_total


def _instances(at: float, gateways: list[str], order_apis: list[str]) -> Reading:
    """A reading of replicas, each exposition labelled with its instance as `read` does."""

    def merged(texts: list[str], port: int) -> Exposition:
        return Exposition.merge(
            [
                Exposition.parse(text).with_label("instance", f"127.0.0.1:{port + index}")
                for index, text in enumerate(texts)
            ]
        )

    return Reading(at, merged(gateways, 8080), merged(order_apis, 8000))


def test_each_instance_gets_a_row_with_its_own_rate() -> None:
    # Gateway 8080 served the interval's 20 requests; gateway 8081 served none.
    window = compare(
        _instances(10.0, [GATEWAY_BEFORE, GATEWAY_BEFORE], [ORDER_API_BEFORE, ORDER_API_BEFORE]),
        _instances(12.0, [GATEWAY_AFTER, GATEWAY_BEFORE], [ORDER_API_AFTER, ORDER_API_AFTER]),
    )

    rates = {row.name: row.rate for row in window.instances}
    assert rates == {
        "web-gateway 127.0.0.1:8080": 10.0,
        "web-gateway 127.0.0.1:8081": 0.0,
        "order-api 127.0.0.1:8000": 13.0,
        "order-api 127.0.0.1:8001": 13.0,
    }
    assert [row.requests for row in window.rpcs] == [8.0, 44.0]
    assert "INSTANCE" in "\n".join(render(window, title="t", urls={}))


def test_a_single_instance_has_no_instance_rows() -> None:
    assert compare(*_window()).instances == []


def _traced_gateway(exemplars: dict[str, str]) -> Exposition:
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


def test_each_route_shows_the_trace_of_its_slowest_recent_request() -> None:
    before = Reading(10.0, None, None, wall_time=1000.0)
    after = Reading(
        12.0,
        _traced_gateway(
            {
                "0.01": '# {trace_id="aaa",span_id="1"} 0.005 999.5',
                "0.1": '# {trace_id="bbb",span_id="2"} 0.05 1001.5',
                "1.0": '# {trace_id="ccc",span_id="3"} 0.5 1001.0',
            }
        ),
        None,
        wall_time=1002.0,
    )
    (route,) = compare(before, after).routes
    assert route.slowest_trace == "ccc"


def test_exemplars_older_than_the_interval_are_not_shown() -> None:
    stale = _traced_gateway({"1.0": '# {trace_id="ccc",span_id="3"} 0.5 900.0'})
    (route,) = compare(
        Reading(10.0, None, None, wall_time=1000.0), Reading(12.0, stale, None, wall_time=1002.0)
    ).routes
    assert route.slowest_trace is None


def test_the_trace_column_appears_only_when_there_are_traces() -> None:
    traced = _traced_gateway({"1.0": '# {trace_id="ccc",span_id="3"} 0.5 1001.0'})
    window = compare(
        Reading(10.0, None, None, wall_time=1000.0), Reading(12.0, traced, None, wall_time=1002.0)
    )
    lines = render(window, title="t", urls={})
    assert lines[2].endswith("SLOWEST TRACE") and lines[3].endswith("  ccc")
    untraced = render(compare(*_window()), title="t", urls={})
    assert "SLOWEST TRACE" not in "\n".join(untraced)


def test_native_histograms_give_measured_quantiles_and_say_so() -> None:
    # GetOrder: 100 RPCs before, 120 after, the 20 new ones all in (7 ms, 7.6 ms].
    before = replace(
        _reading(0.0, GATEWAY_BEFORE, ORDER_API_BEFORE),
        native_rpcs={("GetOrder",): {0.007: 0.0, 0.0076: 100.0, float("inf"): 100.0}},
    )
    after = replace(
        _reading(2.0, GATEWAY_AFTER, ORDER_API_AFTER),
        native_rpcs={("GetOrder",): {0.007: 0.0, 0.0076: 120.0, float("inf"): 120.0}},
    )
    window = compare(before, after)
    get_order = next(row for row in window.rpcs if row.name == "GetOrder")
    assert get_order.native
    p50 = get_order.quantiles[0]
    assert isinstance(p50, float) and 0.007 < p50 < 0.0076
    text = "\n".join(render(window, title="t", urls={}))
    assert "order-api latency like 7.3ms: the service's native histogram" in text
    assert "7.3ms" in text


def test_without_native_histograms_rows_keep_the_bucket() -> None:
    window = compare(
        _reading(0.0, GATEWAY_BEFORE, ORDER_API_BEFORE),
        _reading(2.0, GATEWAY_AFTER, ORDER_API_AFTER),
    )
    assert not any(row.native for row in [*window.routes, *window.rpcs])
    assert "native histogram" not in "\n".join(render(window, title="t", urls={}))
