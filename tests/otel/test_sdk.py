"""`otel.sdk.configure` in a fresh interpreter each time (it installs global providers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_PROBE = """
import json
from otel.sdk import configure
t = configure("probe-service")
mp = t.meter_provider
print(json.dumps({
    "enabled": t.enabled,
    "prometheus": t.prometheus_registry is not None,
    "tracing": t.tracing,
    "service_name": t.service_name,
    "readers": sorted(type(r).__name__ for r in getattr(mp, "_metric_readers", [])),
}))
t.shutdown()
"""


def _probe(**env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_defaults_are_prometheus_metrics_and_no_traces() -> None:
    probe = _probe()
    assert probe["prometheus"] is True
    assert probe["tracing"] is False
    assert probe["service_name"] == "probe-service"
    assert probe["readers"] == ["PrometheusMetricReader"]


def test_otel_service_name_overrides_the_default() -> None:
    assert _probe(OTEL_SERVICE_NAME="custom")["service_name"] == "custom"


def test_resource_attributes_can_name_the_service() -> None:
    probe = _probe(OTEL_RESOURCE_ATTRIBUTES="service.name=from-attrs,team=a")
    assert probe["service_name"] == "from-attrs"


def test_exporters_combine() -> None:
    probe = _probe(
        OTEL_METRICS_EXPORTER="prometheus,otlp",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1",
    )
    assert probe["readers"] == ["PeriodicExportingMetricReader", "PrometheusMetricReader"]
    assert probe["tracing"] is True


def test_sdk_disabled_gives_disabled_telemetry() -> None:
    probe = _probe(OTEL_SDK_DISABLED="true")
    assert probe["enabled"] is False
    assert probe["prometheus"] is False


def test_unknown_exporter_is_a_clear_error() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environ["OTEL_METRICS_EXPORTER"] = "statsd"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "OTEL_METRICS_EXPORTER='statsd'" in result.stderr
