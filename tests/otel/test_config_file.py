"""`otel.config_file`: the examples, the variables a file replaces, the contract rule, bad files.

Built in process with `otel.sdk.build_telemetry` (it installs nothing), as the
services' entry points call it; the processes and the launcher are covered in
`tests/telemetry/test_config_file_e2e.py`; the contract's refusals in
`test_config_file_checks.py`.
"""

from __future__ import annotations

import logging
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

from otel import config_file, settings
from otel.exemplars import ExemplarPrometheusReader
from otel.no_propagation import NoPropagation
from otel.sdk import Telemetry
from otel.settings import ConfigError
from otel.views import default_views
from tests.otel.config_files import FileTelemetry, prometheus_config, write_config
from tests.support import REPO

EXAMPLES = REPO / "config" / "otel"


def _readers(telemetry: Telemetry) -> list[object]:
    return list(getattr(telemetry.meter_provider, "_metric_readers", []))


def _sdk_config(telemetry: Telemetry) -> object:
    return telemetry.meter_provider._sdk_config  # type: ignore[attr-defined]


def test_default_example_gives_what_no_variables_give(file_telemetry: FileTelemetry) -> None:
    telemetry = file_telemetry(EXAMPLES / "prometheus.yaml")
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
    file_telemetry: FileTelemetry,
) -> None:
    telemetry = file_telemetry(
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


def test_otlp_example_samples_a_ratio_of_traces_under_their_parents(
    file_telemetry: FileTelemetry,
) -> None:
    telemetry = file_telemetry(EXAMPLES / "otlp.yaml", OTEL_TRACES_SAMPLER_ARG="0.25")
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


def test_exponential_example_pushes_exponential_histograms(file_telemetry: FileTelemetry) -> None:
    telemetry = file_telemetry(EXAMPLES / "exponential.yaml")
    (reader,) = _readers(telemetry)
    assert isinstance(reader, PeriodicExportingMetricReader)
    preferred = reader._exporter._preferred_aggregation
    assert preferred is not None
    assert isinstance(preferred[Histogram], ExponentialBucketHistogramAggregation)


def test_variables_the_file_replaces_are_ignored(file_telemetry: FileTelemetry) -> None:
    telemetry = file_telemetry(
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


def test_the_projects_own_switches_still_apply(file_telemetry: FileTelemetry) -> None:
    telemetry = file_telemetry(
        EXAMPLES / "otlp.yaml",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="flask,grpc_client",
        ACCESS_LOG="off",
    )
    assert not telemetry.uses("flask")
    assert not telemetry.uses("grpc_client")
    assert telemetry.uses("grpc_server")
    assert telemetry.access_log.ratio == 0.0


def test_a_bad_access_log_value_still_names_its_variable(file_telemetry: FileTelemetry) -> None:
    with pytest.raises(ConfigError, match=r"^ACCESS_LOG="):
        file_telemetry(EXAMPLES / "prometheus.yaml", ACCESS_LOG="sometimes")


def test_disabled_in_the_file_turns_telemetry_off(
    file_telemetry: FileTelemetry, tmp_path: Path
) -> None:
    path = write_config(tmp_path, 'file_format: "1.0"\ndisabled: ${TELEMETRY_OFF:-false}\n')
    assert file_telemetry(path).enabled
    assert config_file.disabled(str(path)) is False
    assert not file_telemetry(path, TELEMETRY_OFF="true").enabled
    assert config_file.disabled(str(path)) is True


def test_otel_sdk_disabled_counts_only_where_the_file_refers_to_it(
    file_telemetry: FileTelemetry, tmp_path: Path
) -> None:
    assert file_telemetry(
        write_config(tmp_path, 'file_format: "1.0"\n'), OTEL_SDK_DISABLED="true"
    ).enabled
    assert not file_telemetry(EXAMPLES / "prometheus.yaml", OTEL_SDK_DISABLED="true").enabled


def test_a_file_without_propagators_propagates_nothing_but_keeps_a_context(
    file_telemetry: FileTelemetry, tmp_path: Path
) -> None:
    telemetry = file_telemetry(write_config(tmp_path, 'file_format: "1.0"\n'))
    assert isinstance(telemetry.propagator, NoPropagation)
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    assert telemetry.propagator.extract(carrier) == Context()
    injected: dict[str, str] = {}
    telemetry.propagator.inject(injected)
    assert injected == {}


def test_an_empty_file_gives_telemetry_that_exports_nothing(
    file_telemetry: FileTelemetry, tmp_path: Path
) -> None:
    telemetry = file_telemetry(write_config(tmp_path, 'file_format: "1.0"\n'))
    assert telemetry.enabled
    assert _readers(telemetry) == []
    assert telemetry.prometheus_registry is None
    assert telemetry.tracing is False


def test_the_projects_views_come_after_the_files(
    file_telemetry: FileTelemetry, tmp_path: Path
) -> None:
    views = """\
        - selector:
            meter_name: opentelemetry.instrumentation.requests
            instrument_name: http.client.request.duration
          stream:
            aggregation:
              drop:
"""
    telemetry = file_telemetry(prometheus_config(tmp_path, views=views))
    configured = _sdk_config(telemetry).views  # type: ignore[attr-defined]
    assert len(configured) == 1 + len(default_views())
    assert configured[0]._instrument_name == "http.client.request.duration"


def test_an_explicit_exemplar_filter_wins(file_telemetry: FileTelemetry, tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        file_format: "1.0"
        meter_provider:
          readers:
            - periodic: {exporter: {console: {}}, interval: 3600000}
          exemplar_filter: always_on
        """,
    )
    telemetry = file_telemetry(path)
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
    file_telemetry: FileTelemetry, tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    text, problem = BAD_FILES[case]
    path = tmp_path / "otel.yaml"
    path.write_text(text)
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(ConfigError, match=problem) as error,
    ):
        file_telemetry(path)
    message = str(error.value)
    assert message.startswith(f"OTEL_CONFIG_FILE={path}: ")
    assert "\n" not in message
    # Upstream logs its errors (some with a traceback); the one line replaces them.
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_a_missing_file_is_one_line_naming_it(
    file_telemetry: FileTelemetry, tmp_path: Path
) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as error:
        file_telemetry(path)
    assert str(error.value) == f"OTEL_CONFIG_FILE={path}: cannot read it: No such file or directory"
    assert config_file.disabled(str(path)) is False


def test_an_empty_variable_means_no_file(file_telemetry: FileTelemetry) -> None:
    telemetry = file_telemetry(Path(" "))
    assert [type(reader) for reader in _readers(telemetry)] == [ExemplarPrometheusReader]


def test_unusable_values_of_replaced_variables_do_not_stop_a_service(
    file_telemetry: FileTelemetry,
) -> None:
    telemetry = file_telemetry(
        EXAMPLES / "prometheus.yaml",
        OTEL_METRICS_EXPORTER="jaeger",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
        OTEL_METRICS_EXEMPLAR_FILTER="sometimes",
    )
    assert [type(reader) for reader in _readers(telemetry)] == [ExemplarPrometheusReader]
