"""The project's distro and configurator for the `opentelemetry-instrument` launcher.

The launcher loads one distro and one configurator from entry points, then
every instrumentor not named in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS. The
distro pins the configurator to this project's (so another installed
configurator cannot install providers behind the services' back), opts in to
stable HTTP semantic conventions, and instruments nothing when
OTEL_SDK_DISABLED=true (with OTEL_CONFIG_FILE: when the file says `disabled: true`;
a file with errors is left to the service, which stops with one line).

It leaves the instrumentations the services add themselves (Flask, the gRPC
client and server, the runtime metrics: `settings.SERVICE_INSTRUMENTATIONS`)
to the services' entry points, which add them with the same code in both start
paths, so a service costs the same with and without the launcher and honours
the same variables. Other installed instrumentors load as the launcher does.
SDK providers are built and installed by the service entry points (`otel.sdk`).
"""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint
from typing import Any

# mypy cannot see BaseDistro through the package's re-exports; it is there at run time.
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from otel import settings

DISTRO_NAME = "otel_stack"


class StackDistro(BaseDistro):  # type: ignore[misc]
    """Sets the launcher up to give exactly the telemetry, and cost, of an in-process start."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", DISTRO_NAME)
        settings.ensure_stable_http_semconv(os.environ)

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        if _telemetry_disabled() or entry_point.name in settings.SERVICE_INSTRUMENTATIONS:
            return
        super().load_instrumentor(entry_point, **kwargs)


def _telemetry_disabled() -> bool:
    path = settings.config_file(os.environ)
    if path is None:
        return settings.sdk_disabled(os.environ)
    from otel import config_file  # noqa: PLC0415 - only with a file: its parser costs start-up time

    return config_file.disabled(path)


class StackConfigurator(_BaseConfigurator):
    """Leaves provider setup to the service entry point; see the module docstring."""

    def _configure(self, **kwargs: Any) -> None:
        return None
