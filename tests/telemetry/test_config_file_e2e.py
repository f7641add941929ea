"""The example configuration files over real processes, in process and under the launcher.

- `config/otel/prometheus.yaml`: both /metrics meet the metric contract, and their
  families (names, types, buckets, label names) equal those of the variables'
  default, in both start paths.
- `config/otel/otlp.yaml`: spans, metrics and log records reach a real OTLP server
  (the in-memory receiver) as the file says — parent-based ratio sampling, the
  contract's instruments with their buckets and exact counts — identically in both
  paths, while the variables the file replaces say otherwise.
- `config/otel/otlp.yaml` through the real collector (skips without it unless
  REQUIRE_COLLECTOR=1): the collector's `prometheus` exporter, read per job, meets
  the metric contract (the same checks, without the labels the collector adds).
- `config/otel/exponential.yaml` (launcher): histograms arrive exponential, except
  those an explicit-bucket View of the contract pins.
- Bad files: a service stops at start with one line naming the file, exit 2, in
  both start paths (each file once, services and paths taken in turn).
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.metrics_core import Metric

from otel.instruments import DURATION_BUCKETS
from otel.metric_contract import CONTRACT_INSTRUMENTS
from otel.views import default_views
from otel_stack.cli import verify
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.http_call import call
from otel_stack.harness.otlp_receiver import OtlpReceiver, counter_value, running_receiver
from otel_stack.harness.processes import launcher_command, module_command
from otel_stack.harness.running import (
    GATEWAY,
    MODULES,
    ORDER_API,
    Stack,
    running_stack,
)
from otel_stack.harness.scrape import Exposition, ScrapeError, scrape
from tests.support import REPO
from tests.support.collector import running_collector
from tests.support.known_traffic import GATEWAY_COUNTS, ORDER_API_COUNTS, send_known_mix
from tests.support.polling import wait_until

EXAMPLES = REPO / "config" / "otel"
PATHS = ("plain", "launcher")
SAMPLING_RATIO = 0.5
EXTRA_READS = 24  # more traces for the ratio to choose from (at 0.5, none or all: 2**-30)
# Family -> (type, label names, bucket bounds): what must be equal between configurations.
Families = dict[str, tuple[str, frozenset[str], tuple[str, ...]]]


def _families(exposition: Exposition) -> Families:
    families: Families = {}
    for family in exposition.families:
        labels = frozenset(key for sample in family.samples for key in sample.labels if key != "le")
        bounds = sorted(
            {sample.labels["le"] for sample in family.samples if "le" in sample.labels},
            key=float,
        )
        families[family.name] = (family.type, labels, tuple(bounds))
    return families


@dataclass(frozen=True)
class Scraped:
    """Both services' /metrics after the known mix, and their logs."""

    gateway: Exposition
    order_api: Exposition
    logs: str


def _run_and_scrape(tmp: Path, launcher: bool, environ: dict[str, str]) -> Scraped:
    with running_stack(tmp, launcher=launcher, environ=environ) as stack:
        send_known_mix(stack)
        scraped = Scraped(
            scrape(stack.gateway_url + "/metrics"),
            scrape(stack.order_api_metrics_url),
            "",
        )
        logs = stack.log(ORDER_API) + stack.log(GATEWAY)
    return Scraped(scraped.gateway, scraped.order_api, logs)


@pytest.fixture(scope="module")
def default_file(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scraped]:
    """The default example in both paths, and the variables' default under the launcher."""
    runs = {
        "variables": (True, {}),
        "plain": (False, {"OTEL_CONFIG_FILE": str(EXAMPLES / "prometheus.yaml")}),
        "launcher": (True, {"OTEL_CONFIG_FILE": str(EXAMPLES / "prometheus.yaml")}),
    }
    return {
        name: _run_and_scrape(tmp_path_factory.mktemp(name), launcher, environ)
        for name, (launcher, environ) in runs.items()
    }


@pytest.mark.parametrize("path", PATHS)
def test_default_file_meets_the_metric_contract(
    default_file: dict[str, Scraped], path: str
) -> None:
    scraped = default_file[path]
    checks = verify.check_exposition(verify.GATEWAY, scraped.gateway)
    checks += verify.check_exposition(verify.ORDER_API, scraped.order_api)
    assert [check for check in checks if not check.ok] == []
    assert "Traceback" not in scraped.logs
    assert "from OTEL_CONFIG_FILE=" in scraped.logs


@pytest.mark.parametrize("path", PATHS)
def test_default_file_publishes_the_families_of_the_variables(
    default_file: dict[str, Scraped], path: str
) -> None:
    expected, got = default_file["variables"], default_file[path]
    assert _families(got.gateway) == _families(expected.gateway)
    assert _families(got.order_api) == _families(expected.order_api)


def test_every_published_family_comes_from_a_contract_instrument(
    default_file: dict[str, Scraped],
) -> None:
    # Keeps otel.metric_contract (what a file's View may not select) in step with what
    # the services publish: a new instrument must be added there.
    stems = {instrument.name.replace(".", "_") for instrument in CONTRACT_INSTRUMENTS}
    stems |= {view._name.replace(".", "_") for view in default_views() if view._name}
    scraped = default_file["plain"]
    published = set(_families(scraped.gateway)) | set(_families(scraped.order_api))
    strays = {
        name
        for name in published - {"target_info"}
        if not any(name.startswith(stem) for stem in stems)
    }
    assert strays == set()


@dataclass(frozen=True)
class Pushed:
    """What the receiver got from one run of both services, and their logs."""

    receiver: OtlpReceiver
    logs: str
    metrics_port_open: bool


def _pushed_after_the_mix(receiver: OtlpReceiver) -> bool:
    order_api = receiver.metrics(ORDER_API).get("grpc.requests")
    gateway = receiver.metrics(GATEWAY).get("http.requests")
    return bool(
        order_api
        and gateway
        and counter_value(order_api, method="ListOrders", status="OK")
        and counter_value(gateway, method="_OTHER", route="unmatched", status_code="405")
    )


def _metrics_port_open(stack: Stack) -> bool:
    try:
        scrape(stack.order_api_metrics_url, timeout=2)
    except ScrapeError:
        return False
    return True


def _push(tmp: Path, example: str, launcher: bool) -> Pushed:
    with running_receiver() as (receiver, port):
        environ = {
            "OTEL_CONFIG_FILE": str(EXAMPLES / example),
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_TRACES_SAMPLER_ARG": str(SAMPLING_RATIO),
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            # Replaced by the file: they must change nothing.
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_TRACES_SAMPLER": "always_off",
        }
        with running_stack(tmp, launcher=launcher, environ=environ) as stack:
            send_known_mix(stack, scrapes=False)
            send_reads(stack, EXTRA_READS)
            wait_until(lambda: _pushed_after_the_mix(receiver), 30, "the mix's metrics")
            port_open = _metrics_port_open(stack)
            logs = stack.log(ORDER_API) + stack.log(GATEWAY)
        # Stopped: the last spans and log records were flushed at shutdown.
        return Pushed(receiver, logs, port_open)


def send_reads(stack: Stack, count: int) -> None:
    """`count` reads of an unknown order: each a gateway request and a GetOrder call."""
    for number in range(count):
        assert call("GET", f"{stack.gateway_url}/orders/read-{number}").status == 404


@pytest.fixture(scope="module")
def otlp_file(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pushed]:
    return {
        path: _push(tmp_path_factory.mktemp(f"otlp-{path}"), "otlp.yaml", path == "launcher")
        for path in PATHS
    }


def _trace_ids(receiver: OtlpReceiver, service: str) -> set[bytes]:
    return {span.trace_id for span in receiver.spans(service)}


def _sampled_by_ratio(trace_id: bytes, ratio: float) -> bool:
    # TraceIdRatioBased: the low 64 bits of the trace id below ratio * 2**64.
    return int.from_bytes(trace_id, "big") & (2**64 - 1) < round(ratio * 2**64)


@pytest.mark.parametrize("path", PATHS)
def test_otlp_file_samples_traces_by_ratio_under_their_parents(
    otlp_file: dict[str, Pushed], path: str
) -> None:
    receiver = otlp_file[path].receiver
    gateway = _trace_ids(receiver, GATEWAY)
    assert 0 < len(gateway) < sum(GATEWAY_COUNTS.values()) + EXTRA_READS
    assert all(_sampled_by_ratio(trace_id, SAMPLING_RATIO) for trace_id in gateway)
    # Parent-based, context propagated: the order-api's spans of the gateway's calls belong to
    # traces the gateway sampled (its other spans are the harness' health probes: roots).
    called = {span.trace_id for span in receiver.spans(ORDER_API) if span.parent_span_id}
    assert called
    assert called <= gateway
    assert all(
        _sampled_by_ratio(trace_id, SAMPLING_RATIO) for trace_id in _trace_ids(receiver, ORDER_API)
    )


@pytest.mark.parametrize("path", PATHS)
def test_otlp_file_pushes_the_contract_instruments_with_exact_counts(
    otlp_file: dict[str, Pushed], path: str
) -> None:
    receiver = otlp_file[path].receiver
    gateway, order_api = receiver.metrics(GATEWAY), receiver.metrics(ORDER_API)
    for (method, status), count in ORDER_API_COUNTS.items():
        expected = count + (EXTRA_READS if (method, status) == ("GetOrder", "NOT_FOUND") else 0)
        assert counter_value(order_api["grpc.requests"], method=method, status=status) == expected
    assert counter_value(order_api["orders.created"]) == 3
    for metric in (gateway["http.request.duration"], order_api["grpc.request.duration"]):
        assert _explicit_bounds(metric) == list(DURATION_BUCKETS), metric.name
    assert {"rpc.server.call.duration", "process.cpu.time"} <= set(order_api)
    assert {"http.server.request.duration", "rpc.client.call.duration"} <= set(gateway)


def test_otlp_file_gives_the_same_signals_in_both_paths(otlp_file: dict[str, Pushed]) -> None:
    def shape(pushed: Pushed) -> dict[str, object]:
        receiver = pushed.receiver
        return {
            service: (
                sorted(
                    (name, metric.WhichOneof("data"))
                    for name, metric in receiver.metrics(service).items()
                ),
                _span_scopes(receiver, service),
                bool(receiver.log_records(service)),
            )
            for service in (GATEWAY, ORDER_API)
        }

    assert shape(otlp_file["plain"]) == shape(otlp_file["launcher"])


@pytest.mark.parametrize("path", PATHS)
def test_otlp_file_exports_log_records_and_no_prometheus(
    otlp_file: dict[str, Pushed], path: str
) -> None:
    pushed = otlp_file[path]
    bodies = {record.body.string_value for record in pushed.receiver.log_records(GATEWAY)}
    assert "GET /orders/<order_id> 404" in bodies
    assert pushed.receiver.log_records(ORDER_API)
    assert not pushed.metrics_port_open  # OTEL_METRICS_EXPORTER=prometheus was ignored
    assert "Traceback" not in pushed.logs


def _span_scopes(receiver: OtlpReceiver, service: str) -> list[str]:
    """The instrumentation scopes of a service's spans (which spans are sampled varies)."""
    return sorted(
        {
            scope.scope.name
            for request in receiver.trace_requests
            for resource_spans in request.resource_spans
            if any(
                attribute.key == "service.name" and attribute.value.string_value == service
                for attribute in resource_spans.resource.attributes
            )
            for scope in resource_spans.scope_spans
        }
    )


def _explicit_bounds(metric: metrics_pb2.Metric) -> list[float]:
    assert metric.WhichOneof("data") == "histogram", metric.name
    return list(metric.histogram.data_points[0].explicit_bounds)


def _job_view(exposition: Exposition, job: str) -> Exposition:
    """One service's series of the collector's exposition, without `job` and `instance`.

    Written as the services' own exporter would: bounds as Python writes them (Go
    writes le="1" for le="1.0"), and a label some series of a family lack back-filled
    with "" (an unmatched route has no `http.route`; the collector leaves it out).
    """
    families = []
    for family in exposition.families:
        view = Metric(family.name, family.documentation, family.type, family.unit)
        samples = [
            sample._replace(labels=_service_labels(sample.labels))
            for sample in family.samples
            if sample.labels.get("job") == job
        ]
        names = {name for sample in samples for name in sample.labels} - {"le"}
        view.samples = [
            sample._replace(labels={**dict.fromkeys(names, ""), **sample.labels})
            for sample in samples
        ]
        if view.samples:
            families.append(view)
    return Exposition(tuple(families))


def _service_labels(labels: dict[str, str]) -> dict[str, str]:
    kept = {key: value for key, value in labels.items() if key not in ("job", "instance")}
    if kept.get("le", "+Inf") != "+Inf":
        kept["le"] = str(float(kept["le"]))
    return kept


def _collector_has_the_mix(url: str) -> bool:
    try:
        exposition = scrape(url)
    except ScrapeError:
        return False
    # The mix's last RPC (ListOrders) and last request (BREW) arrived. Counted, not just
    # present: the order-api publishes each method's OK count from its start, at 0, so the
    # series alone is there in its first push, before any histogram has a point.
    order_api = _job_view(exposition, ORDER_API).samples("grpc_requests_total")
    gateway = _job_view(exposition, GATEWAY).samples("http_requests_total")
    return any(
        sample.labels.get("method") == "ListOrders" and sample.value >= 1 for sample in order_api
    ) and any(sample.labels.get("method") == "_OTHER" and sample.value >= 1 for sample in gateway)


def test_otlp_file_meets_the_contract_through_the_real_collector(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = tmp_path_factory.mktemp("otlp-collector")
    with (
        running_receiver() as (_traces, traces_port),
        running_collector(
            tmp / "collector", traces_endpoint=f"127.0.0.1:{traces_port}"
        ) as collector,
    ):
        environ = {
            "OTEL_CONFIG_FILE": str(EXAMPLES / "otlp.yaml"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.ports.otlp_endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        }
        with running_stack(tmp / "services", launcher=True, environ=environ) as stack:
            send_known_mix(stack, scrapes=False)
            url = f"http://{collector.ports.prometheus_target}/metrics"
            wait_until(lambda: _collector_has_the_mix(url), 30, "the mix at the collector")
            exposition = scrape(url)
    for contract in (verify.GATEWAY, verify.ORDER_API):
        view = _job_view(exposition, contract.service)
        # target_info carries the service as `job` there (service_name moves into it).
        without_target_info = verify.ServiceContract(
            contract.service, tuple(m for m in contract.metrics if m.name != "target_info")
        )
        failed = [c for c in verify.check_exposition(without_target_info, view) if not c.ok]
        assert failed == [], contract.service
        assert view.samples("target_info"), contract.service


def test_exponential_file_pushes_exponential_histograms(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    pushed = _push(tmp_path_factory.mktemp("exponential"), "exponential.yaml", launcher=True)
    gateway = pushed.receiver.metrics(GATEWAY)
    order_api = pushed.receiver.metrics(ORDER_API)
    kinds = {name: metric.WhichOneof("data") for name, metric in {**gateway, **order_api}.items()}
    assert kinds["http.server.request.duration"] == "exponential_histogram"
    # The contract's View with explicit buckets still wins for the stream it makes.
    assert _explicit_bounds(order_api["grpc.request.duration"]) == list(DURATION_BUCKETS)
    assert "Traceback" not in pushed.logs


# Each bad file once, the two start paths and the two services taken in turn (every bad
# file is also built in process for both in tests/otel/test_config_file.py).
BAD_FILES = {
    "missing": (None, GATEWAY, False),
    "invalid-yaml": ('file_format: "1.0"\ntracer_provider: [\n', ORDER_API, True),
    "unknown-file-format": ('file_format: "2.0"\n', GATEWAY, True),
    "schema-violation": ('file_format: "1.0"\nmeter_provider:\n  readers: {}\n', ORDER_API, False),
}


def _start_with(path: Path, service: str, launcher: bool) -> subprocess.CompletedProcess[str]:
    command = (launcher_command if launcher else module_command)(MODULES[service])
    environ = child_environ(
        {
            "OTEL_CONFIG_FILE": str(path),
            "ORDER_API_DB": str(path.parent / "orders.db"),
            "ORDER_API_LISTEN": "127.0.0.1:0",
            "GATEWAY_LISTEN": "127.0.0.1:0",
        }
    )
    return subprocess.run(
        command, env=environ, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def bad_starts(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, str, subprocess.CompletedProcess[str]]]:
    """Each bad file given to its service, two processes at a time."""
    jobs = []
    for case, (text, service, launcher) in BAD_FILES.items():
        path = tmp_path_factory.mktemp(case) / "otel.yaml"
        if text is not None:
            path.write_text(text)
        jobs.append((case, service, launcher, path))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda job: _start_with(job[3], job[1], job[2]), jobs)
        return {
            case: (path, service, result)
            for (case, service, _launcher, path), result in zip(jobs, results, strict=True)
        }


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_stops_the_service_with_one_line(
    bad_starts: dict[str, tuple[Path, str, subprocess.CompletedProcess[str]]], case: str
) -> None:
    path, service, result = bad_starts[case]
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{service}: OTEL_CONFIG_FILE={path}: ")
