"""The service's resource defaults, with the variables and with a configuration file."""

from __future__ import annotations

import os

import pytest
from opentelemetry.sdk.resources import Resource

from otel import config_file
from otel.resource_defaults import with_service_defaults
from otel.settings import TelemetrySettings
from tests.support import REPO

PROMETHEUS_EXAMPLE = REPO / "config" / "otel" / "prometheus.yaml"


def test_the_sdks_unknown_service_gets_the_services_name_and_a_random_id() -> None:
    unnamed = Resource({"service.name": "unknown_service:python"})
    attributes = with_service_defaults(unnamed, "probe").attributes

    assert attributes["service.name"] == "probe"
    assert len(str(attributes["service.instance.id"])) == 36  # a UUID


def test_a_user_set_id_is_kept_and_a_worker_appends_its_index() -> None:
    resource = Resource({"service.name": "edge", "service.instance.id": "pod-a"})

    assert with_service_defaults(resource, "probe").attributes["service.instance.id"] == "pod-a"
    worker = with_service_defaults(resource, "probe", worker_index=2).attributes
    assert worker["service.instance.id"] == "pod-a-2"
    assert worker["service.name"] == "edge"


def test_workers_configured_by_a_file_get_an_instance_id_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-a")
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
    ids = []
    for index in (0, 1):
        telemetry = config_file.build_telemetry(
            "probe",
            str(PROMETHEUS_EXAMPLE),
            TelemetrySettings.from_env({}),
            worker_index=index,
        )
        try:
            resource = telemetry.meter_provider._sdk_config.resource  # type: ignore[attr-defined]
            ids.append(resource.attributes["service.instance.id"])
        finally:
            telemetry.shutdown()

    assert ids == ["pod-a-0", "pod-a-1"]
