"""The launcher finds exactly this project's distro and configurator."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from otel.distro import StackDistro


def test_only_the_projects_distro_is_installed() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_distro")}
    assert names == {"otel_stack": "otel.distro:StackDistro"}


def test_only_the_projects_configurator_is_installed() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_configurator")}
    assert names == {"otel_stack": "otel.distro:StackConfigurator"}


class ProbeInstrumentor:
    """Stands in for an installed instrumentor the launcher would load."""

    calls = 0

    def instrument(self, **_kwargs: object) -> None:
        ProbeInstrumentor.calls += 1


PROBE = EntryPoint("probe", f"{__name__}:ProbeInstrumentor", "opentelemetry_instrumentor")


@pytest.mark.parametrize(
    ("file_text", "loaded"),
    [
        ('file_format: "1.0"\ndisabled: ${PROBE_OFF:-false}\n', 0),
        ('file_format: "1.0"\ndisabled: false\n', 1),
        # A broken file is the service's to report (one line, exit 2); the distro goes on.
        ("file_format: [\n", 1),
    ],
)
def test_the_distro_follows_the_configuration_files_disabled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, file_text: str, loaded: int
) -> None:
    path = tmp_path / "otel.yaml"
    path.write_text(file_text)
    monkeypatch.setenv("OTEL_CONFIG_FILE", str(path))
    monkeypatch.setenv("PROBE_OFF", "true")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "false")
    ProbeInstrumentor.calls = 0
    StackDistro().load_instrumentor(PROBE)
    assert ProbeInstrumentor.calls == loaded
