"""The project's distro and configurator for the `opentelemetry-instrument` launcher.

The launcher loads one distro and one configurator from entry points, then
every instrumentor. The distro pins the configurator to this project's (so
another installed configurator cannot install providers behind the services'
back), opts in to stable HTTP semantic conventions before Flask is
instrumented, passes the same settings to the instrumentors as the in-process
path uses, and instruments nothing when OTEL_SDK_DISABLED=true.

SDK providers are built and installed by the service entry points (`otel.sdk`),
which know the service name and port layout; instrumentors loaded here use
the global providers through the API's proxies once those are set.
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
    """Sets the launcher up to give exactly the telemetry of an in-process start."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", DISTRO_NAME)
        settings.ensure_stable_http_semconv()

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        if settings.sdk_disabled():
            return
        if entry_point.name == "system_metrics":
            instrumentor = entry_point.load()
            instrumentor(config=settings.RUNTIME_METRICS).instrument(**kwargs)
            return
        if entry_point.name == "flask":
            kwargs["excluded_urls"] = settings.flask_excluded_urls()
        super().load_instrumentor(entry_point, **kwargs)


class StackConfigurator(_BaseConfigurator):
    """Leaves provider setup to the service entry point; see the module docstring."""

    def _configure(self, **kwargs: Any) -> None:
        return None
