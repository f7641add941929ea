"""`otel.config_file`: the examples, the variables a file replaces, the contract rule, bad files.

Built in process with `otel.sdk.build_telemetry` (it installs nothing), as the
services' entry points call it; the processes and the launcher are covered in
`tests/telemetry/test_config_file_e2e.py`.
"""

from __future__ import annotations

import logging
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    Histogram,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation

from otel import config_file, prometheus, settings
from otel.config_file import NoPropagation
from otel.exemplars import ExemplarPrometheusReader
from otel.metric_contract import CONTRACT_INSTRUMENTS, Selector, first_selected, selects
from otel.sdk import Telemetry, build_telemetry
from otel.settings import ConfigError, TelemetrySettings
from otel.views import default_views
from services import envconfig
from tests.support import REPO

EXAMPLES = REPO / "config" / "otel"
Build = Callable[..., Telemetry]


@pytest.fixture
def build(monkeypatch: pytest.MonkeyPatch) -> Iterator[Build]:
    """`build_telemetry("probe-service", …)` with OTEL_CONFIG_FILE=path; shut down afterwards.

    The variables are parsed as a service parses them (its OTEL_* settings and
    ACCESS_LOG). The file's `${NAME}` references are resolved from os.environ (as upstream does),
    so the variables are set there too, and the caller's OTEL_* are removed.
    """
    for name in [name for name in os.environ if name.startswith(("OTEL_", "ACCESS_LOG"))]:
        monkeypatch.delenv(name)
    built: list[Telemetry] = []

    def _build(path: Path, **environ: str) -> Telemetry:
        environ = {"OTEL_CONFIG_FILE": str(path), **environ}
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        telemetry = build_telemetry(
            "probe-service",
            TelemetrySettings.from_env(environ),
            access_log_ratio=envconfig.access_log(environ),
        )
        built.append(telemetry)
        return telemetry

    yield _build
    for telemetry in built:
        telemetry.shutdown()


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "otel.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _readers(telemetry: Telemetry) -> list[object]:
    return list(getattr(telemetry.meter_provider, "_metric_readers", []))


def _sdk_config(telemetry: Telemetry) -> object:
    return telemetry.meter_provider._sdk_config  # type: ignore[attr-defined]


PROMETHEUS_READER = """\
    file_format: "1.0"
    meter_provider:
      readers:
        - pull:
            exporter:
              prometheus/development: {prometheus}
"""


def _prometheus_file(tmp_path: Path, prometheus: str = "{}", views: str = "") -> Path:
    text = PROMETHEUS_READER.format(prometheus=prometheus)
    return _file(tmp_path, text + ("      views:\n" + views if views else ""))


def test_default_example_gives_what_no_variables_give(build: Build) -> None:
    telemetry = build(EXAMPLES / "prometheus.yaml")
    assert telemetry.enabled
    assert telemetry.service_name == "probe-service"
    assert telemetry.prometheus_registry is not None
    assert telemetry.prometheus_address == (
        settings.DEFAULT_PROMETHEUS_HOST,
        settings.DEFAULT_PROMETHEUS_PORT,
    )
    assert [type(reader) for reader in _readers(telemetry)] == [ExemplarPrometheusReader]
    assert telemetry.tracing is False
    assert telemetry.logger_provider is None
    assert isinstance(_sdk_config(telemetry).exemplar_filter, AlwaysOffExemplarFilter)  # type: ignore[attr-defined]
    assert telemetry.propagator is not None
    assert telemetry.propagator.fields == {"traceparent", "tracestate", "baggage"}


def test_substitution_fills_the_listener_and_the_resource_from_the_environment(
    build: Build,
) -> None:
    telemetry = build(
        EXAMPLES / "prometheus.yaml",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT="9101",
        OTEL_SERVICE_NAME="orders-edge",
        OTEL_RESOURCE_ATTRIBUTES="service.instance.id=edge-1,deployment.environment.name=test",
    )
    assert telemetry.prometheus_address == ("127.0.0.1", 9101)
    assert telemetry.service_name == "orders-edge"
    attributes = _sdk_config(telemetry).resource.attributes  # type: ignore[attr-defined]
    assert attributes["service.instance.id"] == "edge-1"
    assert attributes["deployment.environment.name"] == "test"


def test_otlp_example_samples_a_ratio_of_traces_under_their_parents(build: Build) -> None:
    telemetry = build(EXAMPLES / "otlp.yaml", OTEL_TRACES_SAMPLER_ARG="0.25")
    assert telemetry.tracing
    sampler = telemetry.tracer_provider.sampler  # type: ignore[attr-defined]
    assert sampler.get_description().startswith("ParentBased{root:TraceIdRatioBased{0.25}")
    assert telemetry.prometheus_registry is None
    (reader,) = _readers(telemetry)
    assert isinstance(reader, PeriodicExportingMetricReader)
    assert reader._export_interval_millis == 15000
    assert telemetry.logger_provider is not None
    assert isinstance(_sdk_config(telemetry).exemplar_filter, TraceBasedExemplarFilter)  # type: ignore[attr-defined]
    assert telemetry.uses("grpc_client")
    assert telemetry.uses("grpc_server")


def test_exponential_example_pushes_exponential_histograms(build: Build) -> None:
    telemetry = build(EXAMPLES / "exponential.yaml")
    (reader,) = _readers(telemetry)
    assert isinstance(reader, PeriodicExportingMetricReader)
    preferred = reader._exporter._preferred_aggregation
    assert preferred is not None
    assert isinstance(preferred[Histogram], ExponentialBucketHistogramAggregation)


def test_variables_the_file_replaces_are_ignored(build: Build) -> None:
    telemetry = build(
        EXAMPLES / "prometheus.yaml",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_TRACES_EXPORTER="console",
        OTEL_LOGS_EXPORTER="console",
        OTEL_METRICS_EXEMPLAR_FILTER="always_on",
        OTEL_PROPAGATORS="b3",
    )
    assert telemetry.enabled
    assert [type(reader) for reader in _readers(telemetry)] == [ExemplarPrometheusReader]
    assert telemetry.tracing is False
    assert telemetry.logger_provider is None
    assert isinstance(_sdk_config(telemetry).exemplar_filter, AlwaysOffExemplarFilter)  # type: ignore[attr-defined]
    assert telemetry.propagator is not None
    assert "b3" not in str(telemetry.propagator.fields)


def test_the_projects_own_switches_still_apply(build: Build) -> None:
    telemetry = build(
        EXAMPLES / "otlp.yaml",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="flask,grpc_client",
        ACCESS_LOG="off",
    )
    assert not telemetry.uses("flask")
    assert not telemetry.uses("grpc_client")
    assert telemetry.uses("grpc_server")
    assert telemetry.access_log.ratio == 0.0


def test_a_bad_access_log_value_still_names_its_variable(build: Build) -> None:
    with pytest.raises(ConfigError, match=r"^ACCESS_LOG="):
        build(EXAMPLES / "prometheus.yaml", ACCESS_LOG="sometimes")


def test_disabled_in_the_file_turns_telemetry_off(build: Build, tmp_path: Path) -> None:
    path = _file(tmp_path, 'file_format: "1.0"\ndisabled: ${TELEMETRY_OFF:-false}\n')
    assert build(path).enabled
    assert config_file.disabled(str(path)) is False
    assert not build(path, TELEMETRY_OFF="true").enabled
    assert config_file.disabled(str(path)) is True


def test_otel_sdk_disabled_counts_only_where_the_file_refers_to_it(
    build: Build, tmp_path: Path
) -> None:
    assert build(_file(tmp_path, 'file_format: "1.0"\n'), OTEL_SDK_DISABLED="true").enabled
    assert not build(EXAMPLES / "prometheus.yaml", OTEL_SDK_DISABLED="true").enabled


def test_a_file_without_propagators_propagates_nothing_but_keeps_a_context(
    build: Build, tmp_path: Path
) -> None:
    telemetry = build(_file(tmp_path, 'file_format: "1.0"\n'))
    assert isinstance(telemetry.propagator, NoPropagation)
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    assert telemetry.propagator.extract(carrier) == Context()
    injected: dict[str, str] = {}
    telemetry.propagator.inject(injected)
    assert injected == {}


def test_an_empty_file_gives_telemetry_that_exports_nothing(build: Build, tmp_path: Path) -> None:
    telemetry = build(_file(tmp_path, 'file_format: "1.0"\n'))
    assert telemetry.enabled
    assert _readers(telemetry) == []
    assert telemetry.prometheus_registry is None
    assert telemetry.tracing is False


def test_the_projects_views_come_after_the_files(build: Build, tmp_path: Path) -> None:
    views = """\
        - selector:
            meter_name: opentelemetry.instrumentation.requests
            instrument_name: http.client.request.duration
          stream:
            aggregation:
              drop:
"""
    telemetry = build(_prometheus_file(tmp_path, views=views))
    configured = _sdk_config(telemetry).views  # type: ignore[attr-defined]
    assert len(configured) == 1 + len(default_views())
    assert configured[0]._instrument_name == "http.client.request.duration"


@pytest.mark.parametrize(
    ("selector", "instrument"),
    [
        ("instrument_name: http.server.request.duration", "http.server.request.duration"),
        ("instrument_name: HTTP.REQUEST.*", "http.request.duration"),
        ("instrument_type: histogram", "http.request.duration"),
        ("meter_name: opentelemetry.instrumentation.system_metrics", "process.cpu.time"),
        ("instrument_name: '*'", "http.requests"),
    ],
)
def test_a_view_selecting_a_contract_instrument_is_refused(
    build: Build, tmp_path: Path, selector: str, instrument: str
) -> None:
    views = f"""\
        - selector:
            {selector}
          stream:
            aggregation:
              explicit_bucket_histogram:
                boundaries: [1, 2]
"""
    path = _prometheus_file(tmp_path, views=views)
    with pytest.raises(ConfigError) as error:
        build(path)
    message = str(error.value)
    assert message.startswith(f"OTEL_CONFIG_FILE={path}: meter_provider.views[0] selects ")
    assert f" {instrument} " in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("prometheus_settings", "problem"),
    [
        ("{translation_strategy: no_translation/development}", "would rename"),
        ("{target_info_enabled/development: false}", "target_info"),
        ("{resource_constant_labels: {included: ['*']}}", "add labels"),
        ("{port: 70000}", "expected 0-65535"),
    ],
)
def test_prometheus_settings_that_change_the_contract_are_refused(
    build: Build, tmp_path: Path, prometheus_settings: str, problem: str
) -> None:
    path = _prometheus_file(tmp_path, prometheus=prometheus_settings)
    with pytest.raises(ConfigError, match=problem) as error:
        build(path)
    assert str(error.value).startswith(f"OTEL_CONFIG_FILE={path}: ")


def test_scope_labels_asked_for_are_overridden_with_a_warning(
    build: Build, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _prometheus_file(tmp_path, prometheus="{scope_info_enabled: true}")
    with caplog.at_level(logging.WARNING, logger="otel.config_file"):
        telemetry = build(path)
    assert "scope_info_enabled is overridden" in caplog.text
    telemetry.meter_provider.get_meter("probe").create_counter("probe.calls").add(1)
    assert telemetry.prometheus_registry is not None
    body, _content_type = prometheus.render(telemetry.prometheus_registry, None)
    assert b"probe_calls_total 1.0" in body
    assert b"otel_scope" not in body


def test_a_second_pull_reader_is_refused(build: Build, tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """\
        file_format: "1.0"
        meter_provider:
          readers:
            - pull: {exporter: {prometheus/development: {port: 9101}}}
            - pull: {exporter: {prometheus/development: {port: 9102}}}
        """,
    )
    with pytest.raises(ConfigError, match="more than one pull reader"):
        build(path)


def test_an_explicit_exemplar_filter_wins(build: Build, tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """\
        file_format: "1.0"
        meter_provider:
          readers:
            - periodic: {exporter: {console: {}}, interval: 3600000}
          exemplar_filter: always_on
        """,
    )
    telemetry = build(path)
    assert isinstance(_sdk_config(telemetry).exemplar_filter, AlwaysOnExemplarFilter)  # type: ignore[attr-defined]


BAD_FILES = {
    "invalid-yaml": ('file_format: "1.0"\nmeter_provider: [unclosed\n', "Failed to parse YAML"),
    "unknown-file-format": ('file_format: "2.0"\n', "Unsupported file_format '2.0'"),
    "missing-file-format": ("disabled: false\n", "'file_format' is a required property"),
    "schema-violation": (
        'file_format: "1.0"\ntracer_provider:\n  processors: []\n  sampler: sometimes\n',
        "does not match schema",
    ),
    "env-prefix": (
        'file_format: "1.0"\nresource:\n  attributes_list: ${env:ATTRIBUTES}\n',
        r"write \$\{NAME\} instead of \$\{env:NAME\}",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_one_line_naming_it(
    build: Build, tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    text, problem = BAD_FILES[case]
    path = tmp_path / "otel.yaml"
    path.write_text(text)
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(ConfigError, match=problem) as error,
    ):
        build(path)
    message = str(error.value)
    assert message.startswith(f"OTEL_CONFIG_FILE={path}: ")
    assert "\n" not in message
    # Upstream logs its errors (some with a traceback); the one line replaces them.
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_a_missing_file_is_one_line_naming_it(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as error:
        build(path)
    assert str(error.value) == f"OTEL_CONFIG_FILE={path}: cannot read it: No such file or directory"
    assert config_file.disabled(str(path)) is False


def test_an_empty_variable_means_no_file(build: Build) -> None:
    telemetry = build(Path(" "))
    assert [type(reader) for reader in _readers(telemetry)] == [ExemplarPrometheusReader]


def test_every_contract_instrument_is_selected_by_its_own_name() -> None:
    for instrument in CONTRACT_INSTRUMENTS:
        selector = Selector(instrument_name=instrument.name, meter_name=instrument.scope)
        assert first_selected(selector) == instrument


def test_selectors_match_like_the_sdk() -> None:
    (duration,) = [each for each in CONTRACT_INSTRUMENTS if each.name == "http.request.duration"]
    assert selects(Selector(instrument_name="HTTP.Request.*"), duration)
    assert not selects(Selector(unit="S"), duration)  # units are case-sensitive
    assert not selects(Selector(meter_name="otel-python"), duration)
    assert not selects(Selector(instrument_type="counter"), duration)
    assert not selects(Selector(meter_version="9.9.9"), duration)
    assert first_selected(Selector(instrument_name="http.client.request.duration")) is None


def test_unusable_values_of_replaced_variables_do_not_stop_a_service(build: Build) -> None:
    telemetry = build(
        EXAMPLES / "prometheus.yaml",
        OTEL_METRICS_EXPORTER="jaeger",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
        OTEL_METRICS_EXEMPLAR_FILTER="sometimes",
    )
    assert [type(reader) for reader in _readers(telemetry)] == [ExemplarPrometheusReader]
