"""Rates, error ratios, quantiles and slowest traces between two readings (liveview/window.py)."""

from __future__ import annotations

from dataclasses import replace

from otel_stack.cli.liveview.reading import Reading
from otel_stack.cli.liveview.text import render
from otel_stack.cli.liveview.window import compare
from otel_stack.harness.scrape import Exposition
from tests.otel_stack.cli.liveview.expositions import (
    GATEWAY_AFTER,
    GATEWAY_BEFORE,
    ORDER_API_AFTER,
    ORDER_API_BEFORE,
    client_latencies,
    reading,
    traced_gateway,
    window_readings,
)


def test_route_rate_counts_every_status_over_the_interval() -> None:
    window = compare(*window_readings())
    (route,) = window.routes
    assert route.name == "GET /orders/<order_id>"
    assert route.requests == 20
    assert route.rate == 10.0


def test_route_error_ratio_is_the_share_of_5xx() -> None:
    (route,) = compare(*window_readings()).routes
    assert route.error_ratio == 0.25


def test_route_quantiles_from_the_histogram_are_the_buckets_of_the_interval() -> None:
    (route,) = compare(*window_readings()).routes
    # 5 in (0.001, 0.01] and 15 in (0.01, 0.1]: p50 (rank 10) and p99 lie in the second bucket;
    # where inside it, the histogram does not say.
    assert route.quantiles == ((0.01, 0.1), (0.01, 0.1), (0.01, 0.1))


def test_route_quantiles_are_the_clients_own_timings_of_the_interval() -> None:
    before, after = window_readings()
    earlier = [0.050] * 100  # before the interval: must not count
    during = [0.003] * 10 + [0.004] * 9 + [0.020]
    window = compare(
        replace(before, client=client_latencies(*earlier)),
        replace(after, client=client_latencies(*earlier, *during)),
    )
    (route,) = window.routes
    p50, p95, p99 = route.quantiles
    assert isinstance(p50, float) and 0.0029 < p50 < 0.0031
    assert isinstance(p95, float) and 0.0039 < p95 < 0.0041
    assert isinstance(p99, float) and 0.004 < p99 <= 0.0205


def test_rpc_error_ratio_counts_server_faults_not_client_errors() -> None:
    window = compare(*window_readings())
    rows = {row.name: row for row in window.rpcs}
    # 22 GetOrder calls: 5 UNAVAILABLE are server faults, 2 NOT_FOUND are not.
    assert rows["GetOrder"].requests == 22
    assert rows["GetOrder"].error_ratio == 5 / 22
    assert rows["CreateOrder"].error_ratio == 0.0


def test_orders_created_is_the_counter_increase() -> None:
    window = compare(*window_readings())
    assert (window.orders_created, window.orders_total) == (4.0, 14.0)


def test_rows_without_requests_show_no_ratio_or_quantiles() -> None:
    before, _ = window_readings()
    window = compare(before, Reading(12.0, before.gateway, before.order_api))
    (route,) = window.routes
    assert route.rate == 0.0
    assert route.error_ratio is None
    assert route.quantiles == (None, None, None)


def test_probe_routes_are_not_shown_as_traffic() -> None:
    probes = (
        'http_requests_total{method="GET",route="/readyz",status_code="200"} 3.0\n'
        'http_requests_total{method="GET",route="/healthz",status_code="200"} 9.0\n'
    )
    before = reading(0.0, GATEWAY_BEFORE, ORDER_API_BEFORE)
    after = reading(
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
    single = compare(*window_readings())

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
    assert compare(*window_readings()).instances == []


def test_each_route_shows_the_trace_of_its_slowest_recent_request() -> None:
    before = Reading(10.0, None, None, wall_time=1000.0)
    after = Reading(
        12.0,
        traced_gateway(
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
    stale = traced_gateway({"1.0": '# {trace_id="ccc",span_id="3"} 0.5 900.0'})
    (route,) = compare(
        Reading(10.0, None, None, wall_time=1000.0), Reading(12.0, stale, None, wall_time=1002.0)
    ).routes
    assert route.slowest_trace is None


def test_native_histograms_give_measured_quantiles_and_say_so() -> None:
    # GetOrder: 100 RPCs before, 120 after, the 20 new ones all in (7 ms, 7.6 ms].
    before = replace(
        reading(0.0, GATEWAY_BEFORE, ORDER_API_BEFORE),
        native_rpcs={("GetOrder",): {0.007: 0.0, 0.0076: 100.0, float("inf"): 100.0}},
    )
    after = replace(
        reading(2.0, GATEWAY_AFTER, ORDER_API_AFTER),
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
        reading(0.0, GATEWAY_BEFORE, ORDER_API_BEFORE),
        reading(2.0, GATEWAY_AFTER, ORDER_API_AFTER),
    )
    assert not any(row.native for row in [*window.routes, *window.rpcs])
    assert "native histogram" not in "\n".join(render(window, title="t", urls={}))
