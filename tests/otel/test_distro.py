"""The launcher finds exactly this project's distro and configurator."""

from __future__ import annotations

from importlib.metadata import entry_points


def test_only_the_projects_distro_is_installed() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_distro")}
    assert names == {"otel_stack": "otel.distro:StackDistro"}


def test_only_the_projects_configurator_is_installed() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_configurator")}
    assert names == {"otel_stack": "otel.distro:StackConfigurator"}
