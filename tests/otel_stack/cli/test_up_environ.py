"""The services' environment under `otel-stack up` (up.py): what the CLI passes its children."""

from __future__ import annotations

from pathlib import Path

import pytest

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
