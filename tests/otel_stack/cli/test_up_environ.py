"""The services' environment under `otel-stack up` (up.py): what the CLI passes its children."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel.histogram_aggregation import EXPLICIT, EXPONENTIAL
from otel.histogram_aggregation import VARIABLE as HISTOGRAM_AGGREGATION
from otel.settings import metrics_exporter_names
from otel_stack.cli import up_plan
from tests.otel_stack.cli.stack_run import UpPorts, run_cli, up_command


def _exporters_given_to_children(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> list[list[str]]:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", value)
    specs = up_plan.service_specs(up_plan.UpOptions(), tmp_path)
    # Parsed by the services' own parser: a value it refuses would stop them at start.
    return [metrics_exporter_names(spec.env) for spec in specs]


def test_metrics_exporter_none_still_gives_the_services_prometheus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _exporters_given_to_children(monkeypatch, tmp_path, "none") == [["prometheus"]] * 2


def test_users_metrics_exporters_are_kept_and_prometheus_added(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert (
        _exporters_given_to_children(monkeypatch, tmp_path, "OTLP") == [["otlp", "prometheus"]] * 2
    )


def test_a_list_with_prometheus_is_passed_unchanged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console,prometheus")
    specs = up_plan.service_specs(up_plan.UpOptions(), tmp_path)
    assert {spec.env["OTEL_METRICS_EXPORTER"] for spec in specs} == {"console,prometheus"}


def test_unusable_metrics_exporter_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = run_cli(
        up_command(UpPorts.free(), tmp_path / "stack", "--no-prometheus"),
        environ={"OTEL_METRICS_EXPORTER": "zipkin"},
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "otel-stack up: error: OTEL_METRICS_EXPORTER='zipkin': unknown exporter 'zipkin' "
        "(valid: prometheus, otlp, console, none)"
    ]
    assert not (tmp_path / "stack").exists()


def test_otlp_prometheus_pushes_exponential_histograms_over_http_to_prometheus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(HISTOGRAM_AGGREGATION, raising=False)
    options = up_plan.UpOptions(otlp_prometheus=True, prometheus_port=9191)
    for spec in up_plan.service_specs(options, tmp_path):
        assert metrics_exporter_names(spec.env) == ["otlp"], spec.name
        assert spec.env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] == (
            "http://127.0.0.1:9191/api/v1/otlp/v1/metrics"
        )
        assert spec.env["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"] == "http/protobuf"
        assert spec.env[HISTOGRAM_AGGREGATION] == EXPONENTIAL


def test_otlp_prometheus_keeps_a_users_explicit_aggregation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(HISTOGRAM_AGGREGATION, EXPLICIT)
    specs = up_plan.service_specs(up_plan.UpOptions(otlp_prometheus=True), tmp_path)
    assert {spec.env[HISTOGRAM_AGGREGATION] for spec in specs} == {EXPLICIT}


def test_unknown_histogram_aggregation_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = run_cli(
        up_command(UpPorts.free(), tmp_path / "stack", "--no-prometheus"),
        environ={HISTOGRAM_AGGREGATION: "exponential"},
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"otel-stack up: error: {HISTOGRAM_AGGREGATION}='exponential': unknown aggregation "
        f"(valid: {EXPLICIT}, {EXPONENTIAL})"
    ]
    assert not (tmp_path / "stack").exists()


@pytest.mark.parametrize(
    "flags", [("--otlp", "--otlp-prometheus"), ("--otlp-prometheus", "--no-prometheus")]
)
def test_otlp_prometheus_conflicts_are_refused_in_one_line(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    result = run_cli(up_command(UpPorts.free(), tmp_path / "stack", *flags))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "--otlp-prometheus" in result.stderr
    assert not (tmp_path / "stack").exists()
