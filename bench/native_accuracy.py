"""Suite 11: latency quantiles from native histograms against the exact ones, and their cost.

Accuracy. Both services run under the launcher pushing OTLP/HTTP every second
into the tested Prometheus with its OTLP receiver, with
OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=base2_exponential_bucket_histogram
(the `otel-stack up --otlp-prometheus` setup). The order-api injects latency
so the RPC methods spread from sub-millisecond to tens of milliseconds
(`FAULTS`), and the realistic request mix drives them through the gateway.
Ground truth: every RPC's `duration_ms` from the order-api's access lines, the
very values the histograms recorded. Per method, p50/p90/p99 by
`histogram_quantile` over the whole run from the native
`rpc_server_call_duration_seconds` and from the contract's classic
`grpc_request_duration_seconds` buckets of the same run, against the exact
nearest-rank quantiles.

Cost, interleaved in process: recording one RPC into a provider whose reader
aggregates exponentially versus explicitly (CPU µs per request); and one export
of the same observations (this run's own durations, replayed) to the running
Prometheus, CPU µs per export and bytes of the OTLP request.
"""

from __future__ import annotations

import functools
import itertools
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from bench.measure import paired_difference_us, per_call
from otel.histogram_aggregation import EXPLICIT, EXPONENTIAL, otlp_preferred_aggregation
from otel.histogram_aggregation import VARIABLE as HISTOGRAM_AGGREGATION
from otel.instruments import RpcServerMetrics
from otel.views import default_views
from otel_stack.cli.prometheus_reading import query
from otel_stack.deploy import go_tools, prometheus_config
from otel_stack.harness import local_prometheus, otlp_prometheus, processes
from otel_stack.harness.access_durations import exact_quantile, relative_error, rpc_durations
from otel_stack.harness.load import LoadConfig, LoadGenerator
from otel_stack.harness.running import free_port, running_stack

QUANTILES = (0.5, 0.9, 0.99)
# GetOrder as it is (sub-millisecond), ListOrders and CreateOrder slowed down.
FAULTS = "latency:ListOrders=5ms,latency:CreateOrder=20ms"
RATE = 40.0
SERVICE = "orders.v1.OrderService"
NEVER_MS = 24 * 3600 * 1000.0  # exports happen only when forced
GOAL_RELATIVE_ERROR = 0.05


def run(quick: bool) -> dict[str, Any]:
    """Quantile errors per method (native and classic) and the cost figures."""
    binary = go_tools.find(go_tools.PROMETHEUS, "prometheus")
    if binary is None:
        return {"skipped": "Prometheus 3.15.1 not built (make prometheus)"}
    with tempfile.TemporaryDirectory(prefix="bench-native-") as scratch:
        directory = Path(scratch)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = local_prometheus.write_config(
            directory,
            prometheus_config.otlp_targets(f"127.0.0.1:{port}"),
            rules=[],
            otlp_receiver=True,
        )
        spec = local_prometheus.spec(
            str(binary), directory, port=port, config_path=config, otlp_receiver=True
        )
        prometheus = processes.start(spec, timeout=60)
        try:
            accuracy = _accuracy(directory, url, seconds=15.0 if quick else 30.0)
            cost = _cost(url, accuracy.pop("durations"), quick)
        finally:
            prometheus.stop(grace=15)
    return {**accuracy, **cost}


def _accuracy(directory: Path, url: str, *, seconds: float) -> dict[str, Any]:
    environ = {
        **otlp_prometheus.service_environ({}, url),
        "ORDER_API_FAULTS": FAULTS,
        HISTOGRAM_AGGREGATION: EXPONENTIAL,
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    }
    services = directory / "services"
    services.mkdir()
    with running_stack(services, launcher=True, environ=environ) as stack:
        load = LoadGenerator(
            LoadConfig(target=stack.gateway_url, rate=RATE, duration=seconds, concurrency=4)
        )
        load.start()
        load.wait(timeout=seconds + 60)
        # Stopping the order-api flushes its last access lines and pushes its last export.
        stack.stop("order-api")
        durations = rpc_durations(stack.log("order-api").splitlines())
        _wait_for_counts(url, {method: len(values) for method, values in durations.items()})
        native = _estimates(
            url,
            "histogram_quantile({q}, sum by (rpc_method)"
            ' (rpc_server_call_duration_seconds{{job="order-api"}}))',
            lambda labels: labels["rpc_method"].rpartition("/")[2],
        )
        classic = _estimates(
            url,
            "histogram_quantile({q}, sum by (method, le)"
            ' (grpc_request_duration_seconds_bucket{{job="order-api"}}))',
            lambda labels: labels["method"],
        )
    methods: dict[str, dict[str, Any]] = {}
    for method, values in sorted(durations.items()):
        rows: dict[str, dict[str, float]] = {}
        for q in QUANTILES:
            exact = exact_quantile(q, values)
            rows[f"p{round(q * 100)}"] = {
                "exact_ms": exact * 1000,
                "native_ms": native[(method, q)] * 1000,
                "classic_ms": classic[(method, q)] * 1000,
                "native_error": relative_error(native[(method, q)], exact),
                "classic_error": relative_error(classic[(method, q)], exact),
            }
        methods[method] = {"rpcs": len(values), "quantiles": rows}
    worst = max(row["native_error"] for m in methods.values() for row in m["quantiles"].values())
    return {
        "faults": FAULTS,
        "rate": RATE,
        "seconds": seconds,
        "methods": methods,
        "native_worst_error": worst,
        "goal_relative_error": GOAL_RELATIVE_ERROR,
        "goal_met": worst <= GOAL_RELATIVE_ERROR,
        "durations": durations,
    }


def _wait_for_counts(url: str, expected: Mapping[str, int], timeout: float = 60.0) -> None:
    """Until Prometheus' native histograms count every RPC of the access lines, by method."""
    deadline = time.monotonic() + timeout
    expr = (
        'sum by (rpc_method) (histogram_count(rpc_server_call_duration_seconds{job="order-api"}))'
    )
    while True:
        counted = {
            series["metric"]["rpc_method"].rpartition("/")[2]: round(float(series["value"][1]))
            for series in query(url, expr)
        }
        if counted == dict(expected):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"Prometheus counts {counted}, access lines {dict(expected)}")
        time.sleep(1.0)


def _estimates(url: str, template: str, method_of: Any) -> dict[tuple[str, float], float]:
    estimates = {}
    for q in QUANTILES:
        for series in query(url, template.format(q=q)):
            estimates[(method_of(series["metric"]), q)] = float(series["value"][1])
    return estimates


def _provider(aggregation: str) -> tuple[MeterProvider, InMemoryMetricReader, RpcServerMetrics]:
    reader = InMemoryMetricReader(preferred_aggregation=otlp_preferred_aggregation(aggregation))
    provider = MeterProvider(metric_readers=[reader], views=default_views())
    return provider, reader, RpcServerMetrics(provider, ["GetOrder", "ListOrders", "CreateOrder"])


def _cost(url: str, durations: Mapping[str, Sequence[float]], quick: bool) -> dict[str, Any]:
    """Per request and per export, exponential versus explicit, interleaved."""
    replay = [(method, seconds) for method, values in durations.items() for seconds in values]
    recorders = {name: _provider(name) for name in (EXPONENTIAL, EXPLICIT)}
    cycle = {name: itertools.cycle(replay) for name in recorders}

    def record(name: str) -> None:
        method, seconds = next(cycle[name])
        recorders[name][2].record(SERVICE, method, "OK", seconds)

    per_request = per_call(
        {name: functools.partial(record, name) for name in recorders},
        calls=2000,
        rounds=9 if quick else 21,
    )
    sizes = {}
    for name, (_, reader, _) in recorders.items():
        data = reader.get_metrics_data()
        sizes[name] = len(encode_metrics(data).SerializeToString()) if data else 0
    for provider, _, _ in recorders.values():
        provider.shutdown()
    per_export = _export_cost(url, replay, quick)
    return {
        "record_us": {name: result.median_us for name, result in per_request.items()},
        "record_exponential_minus_explicit_us": paired_difference_us(
            per_request, EXPONENTIAL, EXPLICIT
        ),
        "export_bytes": sizes,
        "export_bytes_ratio": sizes[EXPONENTIAL] / sizes[EXPLICIT],
        "export_us": {name: result.median_us for name, result in per_export.items()},
        "export_ratio": per_export[EXPONENTIAL].median_us / per_export[EXPLICIT].median_us,
    }


def _export_cost(url: str, replay: Sequence[tuple[str, float]], quick: bool) -> dict[str, Any]:
    """CPU µs of one forced export to Prometheus of the replayed run, per aggregation."""
    readers = {}
    providers = []
    for name in (EXPONENTIAL, EXPLICIT):
        exporter = OTLPMetricExporter(
            endpoint=otlp_prometheus.metrics_endpoint(url),
            preferred_aggregation=otlp_preferred_aggregation(name),
        )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=NEVER_MS)
        # A service of its own per variant: the two push the same series names.
        resource = Resource({"service.name": f"bench-{name}", "service.instance.id": name})
        provider = MeterProvider(metric_readers=[reader], views=default_views(), resource=resource)
        metrics = RpcServerMetrics(provider, ["GetOrder", "ListOrders", "CreateOrder"])
        for method, seconds in replay:
            metrics.record(SERVICE, method, "OK", seconds)
        readers[name] = reader
        providers.append(provider)
    try:
        return per_call(
            {name: reader.force_flush for name, reader in readers.items()},
            calls=1,
            rounds=15 if quick else 41,
            warmup=3,
        )
    finally:
        for provider in providers:
            provider.shutdown()
