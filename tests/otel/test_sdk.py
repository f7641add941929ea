"""`otel.sdk`: `build_telemetry` in process (it installs nothing); `install` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, TraceBasedExemplarFilter

from otel.sdk import Telemetry, build_resource
from otel.settings import ConfigError
from tests.otel.config_files import EnvTelemetry


def _readers(telemetry: Telemetry) -> list[str]:
    readers = getattr(telemetry.meter_provider, "_metric_readers", [])
    return sorted(type(reader).__name__ for reader in readers)


def test_defaults_are_prometheus_metrics_and_no_traces(env_telemetry: EnvTelemetry) -> None:
    telemetry = env_telemetry()
    assert telemetry.prometheus_registry is not None
    assert telemetry.tracing is False
    assert telemetry.service_name == "probe-service"
    assert telemetry.prometheus_address == ("0.0.0.0", 8000)
    assert _readers(telemetry) == ["ExemplarPrometheusReader"]


def test_building_installs_nothing_and_leaves_the_environment_alone(
    env_telemetry: EnvTelemetry,
) -> None:
    environ_before = dict(os.environ)
    telemetry = env_telemetry()
    assert metrics.get_meter_provider() is not telemetry.meter_provider
    assert trace.get_tracer_provider() is not telemetry.tracer_provider
    assert dict(os.environ) == environ_before


def test_otel_service_name_overrides_the_default(env_telemetry: EnvTelemetry) -> None:
    assert env_telemetry(OTEL_SERVICE_NAME="custom").service_name == "custom"


def test_resource_attributes_can_name_the_service(env_telemetry: EnvTelemetry) -> None:
    telemetry = env_telemetry(OTEL_RESOURCE_ATTRIBUTES="service.name=from-attrs,team=a")
    assert telemetry.service_name == "from-attrs"


def test_exporters_combine(env_telemetry: EnvTelemetry) -> None:
    telemetry = env_telemetry(
        OTEL_METRICS_EXPORTER="prometheus,otlp",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1",
    )
    assert _readers(telemetry) == ["ExemplarPrometheusReader", "PeriodicExportingMetricReader"]
    assert telemetry.tracing is True


def test_metrics_exporter_none_has_no_registry(env_telemetry: EnvTelemetry) -> None:
    telemetry = env_telemetry(OTEL_METRICS_EXPORTER="none")
    assert telemetry.prometheus_registry is None
    assert _readers(telemetry) == []


def test_sdk_disabled_gives_disabled_telemetry(env_telemetry: EnvTelemetry) -> None:
    telemetry = env_telemetry(OTEL_SDK_DISABLED="true")
    assert telemetry.enabled is False
    assert telemetry.prometheus_registry is None


def test_unknown_exporter_is_a_clear_error(env_telemetry: EnvTelemetry) -> None:
    with pytest.raises(ConfigError, match="OTEL_METRICS_EXPORTER='statsd'"):
        env_telemetry(OTEL_METRICS_EXPORTER="statsd")


def test_prometheus_listener_address_comes_from_the_variables(env_telemetry: EnvTelemetry) -> None:
    telemetry = env_telemetry(
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1", OTEL_EXPORTER_PROMETHEUS_PORT="0"
    )
    assert telemetry.prometheus_address == ("127.0.0.1", 0)


@pytest.mark.parametrize("port", ["http", "-1", "65536", "80.5"])
def test_bad_prometheus_port_is_a_clear_error(env_telemetry: EnvTelemetry, port: str) -> None:
    with pytest.raises(ConfigError) as error:
        env_telemetry(OTEL_EXPORTER_PROMETHEUS_PORT=port)
    assert str(error.value) == f"OTEL_EXPORTER_PROMETHEUS_PORT={port!r}: expected a port"


_INSTALL_PROBE = """
import json, os
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, TraceBasedExemplarFilter
from otel.sdk import build_telemetry, install
from otel.settings import TelemetrySettings
t = build_telemetry("probe-service", TelemetrySettings.from_env(os.environ))
install(t)
print(json.dumps({
    "meter_provider": metrics.get_meter_provider() is t.meter_provider,
    "tracer_provider": trace.get_tracer_provider() is t.tracer_provider,
    "semconv": os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN"),
}))
try:
    install(build_telemetry("second", TelemetrySettings.from_env(os.environ)))
except Exception as error:
    print(type(error).__name__)
t.shutdown()
"""


def test_install_sets_the_global_providers_once() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environ.update(OTEL_TRACES_EXPORTER="console", OTEL_SEMCONV_STABILITY_OPT_IN="database")
    result = subprocess.run(
        [sys.executable, "-c", _INSTALL_PROBE],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    installed, second = result.stdout.strip().splitlines()[-2:]
    assert json.loads(installed) == {
        "meter_provider": True,
        "tracer_provider": True,
        "semconv": "database,http",
    }
    assert second == "ConfigError"


def test_disabled_instrumentations_come_from_the_standard_variable(
    env_telemetry: EnvTelemetry,
) -> None:
    telemetry = env_telemetry(
        OTEL_TRACES_EXPORTER="console", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="flask,grpc_server"
    )
    assert telemetry.disabled_instrumentations == {"flask", "grpc_server"}
    assert not telemetry.uses("flask")
    assert not telemetry.uses("grpc_server")
    assert telemetry.uses("grpc_client")
    assert telemetry.uses("system_metrics")


def test_grpc_instrumentations_are_used_only_when_spans_go_somewhere(
    env_telemetry: EnvTelemetry,
) -> None:
    telemetry = env_telemetry(OTEL_TRACES_EXPORTER="none")
    assert telemetry.uses("flask")
    assert not telemetry.uses("grpc_client")
    assert not telemetry.uses("grpc_server")


def test_disabled_telemetry_uses_no_instrumentation() -> None:
    assert not any(
        Telemetry.disabled("x").uses(name) for name in ("flask", "grpc_client", "system_metrics")
    )


def test_logs_are_exported_only_when_otel_logs_exporter_says_so(
    env_telemetry: EnvTelemetry,
) -> None:
    assert env_telemetry().logger_provider is None
    assert env_telemetry(OTEL_LOGS_EXPORTER="console").logger_provider is not None


@pytest.mark.parametrize(
    ("variable", "value"), [("OTEL_LOGS_EXPORTER", "loki"), ("ACCESS_LOG", "sometimes")]
)
def test_unusable_log_settings_fail_before_anything_starts(
    env_telemetry: EnvTelemetry, variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        env_telemetry(**{variable: value})


def test_exemplars_follow_tracing(env_telemetry: EnvTelemetry) -> None:
    # The SDK keeps the filter in its private configuration.
    untraced: Any = env_telemetry().meter_provider
    traced: Any = env_telemetry(OTEL_TRACES_EXPORTER="console").meter_provider
    assert isinstance(untraced._sdk_config.exemplar_filter, AlwaysOffExemplarFilter)
    assert isinstance(traced._sdk_config.exemplar_filter, TraceBasedExemplarFilter)


def test_a_worker_appends_its_index_to_a_user_set_instance_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-a")

    assert build_resource("probe", worker_index=3).attributes["service.instance.id"] == "pod-a-3"
    assert build_resource("probe").attributes["service.instance.id"] == "pod-a"


def test_workers_without_a_user_set_instance_id_get_distinct_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    ids = {
        str(build_resource("probe", worker_index=index).attributes["service.instance.id"])
        for index in range(4)
    }

    assert {instance_id.rsplit("-", 1)[1] for instance_id in ids} == {"0", "1", "2", "3"}
    assert len(ids) == 4
