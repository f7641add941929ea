"""What a configuration file may not change of the metric contract (otel/config_file_checks.py).

Each refusal is checked as a service meets it: building its telemetry from the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from otel import prometheus
from otel.settings import ConfigError
from tests.otel.config_files import FileTelemetry, prometheus_config, write_config


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
    file_telemetry: FileTelemetry, tmp_path: Path, selector: str, instrument: str
) -> None:
    views = f"""\
        - selector:
            {selector}
          stream:
            aggregation:
              explicit_bucket_histogram:
                boundaries: [1, 2]
"""
    path = prometheus_config(tmp_path, views=views)
    with pytest.raises(ConfigError) as error:
        file_telemetry(path)
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
    file_telemetry: FileTelemetry, tmp_path: Path, prometheus_settings: str, problem: str
) -> None:
    path = prometheus_config(tmp_path, prometheus=prometheus_settings)
    with pytest.raises(ConfigError, match=problem) as error:
        file_telemetry(path)
    assert str(error.value).startswith(f"OTEL_CONFIG_FILE={path}: ")


def test_scope_labels_asked_for_are_overridden_with_a_warning(
    file_telemetry: FileTelemetry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = prometheus_config(tmp_path, prometheus="{scope_info_enabled: true}")
    with caplog.at_level(logging.WARNING, logger="otel.config_file"):
        telemetry = file_telemetry(path)
    assert "scope_info_enabled is overridden" in caplog.text
    telemetry.meter_provider.get_meter("probe").create_counter("probe.calls").add(1)
    assert telemetry.prometheus_registry is not None
    body, _content_type = prometheus.render(telemetry.prometheus_registry, None)
    assert b"probe_calls_total 1.0" in body
    assert b"otel_scope" not in body


def test_a_second_pull_reader_is_refused(file_telemetry: FileTelemetry, tmp_path: Path) -> None:
    path = write_config(
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
        file_telemetry(path)
