"""The one rule for what a service started on this machine finds in its environment.

A child starts from this process's environment, never with the variables the
harness sets for each child itself (its service name, its metrics listener: one
value would apply to every child, or clash with the ports chosen for it). Then:

- tests and benchmarks (`user_settings=False`) also drop every `OTEL_*`,
  `ORDER_API_*`, `GATEWAY_*` and `ACCESS_LOG` variable, so the developer's shell
  cannot change what they check; each run passes what it needs as overrides
  (the tool cache, OTEL_STACK_CACHE, is kept: it says where the built tools
  are, not how a service behaves);
- `otel-stack up` (`user_settings=True`) keeps them: they are how a user
  configures the stack. It pins the launcher to the project's distro and
  configurator and adds `prometheus` to OTEL_METRICS_EXPORTER, because the live
  view and the local Prometheus read the services' `/metrics` whatever else the
  user exports to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from otel import settings
from otel.distro import DISTRO_NAME
from otel_stack.deploy.toolcache import CACHE_VARIABLE

# The services' own settings and the SDK's: a test run decides them, the caller's shell does not.
SERVICE_VARIABLE_PREFIXES = ("OTEL_", "ORDER_API_", "GATEWAY_", "ACCESS_LOG")
# Set for each child by the harness.
PER_CHILD_VARIABLES = (
    "OTEL_SERVICE_NAME",
    settings.PROMETHEUS_HOST,
    settings.PROMETHEUS_PORT,
)


def child_environ(
    overrides: Mapping[str, str] | None = None,
    *,
    user_settings: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """A service child's environment from `environ`, as the module docstring says, plus overrides.

    With `user_settings`, raises ConfigError for an OTEL_METRICS_EXPORTER or
    OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION the services would
    refuse (each is parsed by their own parser).
    """
    dropped = PER_CHILD_VARIABLES if user_settings else SERVICE_VARIABLE_PREFIXES
    child = {
        name: value
        for name, value in environ.items()
        if not name.startswith(dropped) or name == CACHE_VARIABLE
    }
    if user_settings:
        names = settings.metrics_exporter_names(child)
        settings.histogram_aggregation_name(child)  # refused here, not at each child's start
        if "prometheus" not in names:
            child[settings.METRICS_EXPORTER] = ",".join([*names, "prometheus"])
        child.update(
            OTEL_PYTHON_DISTRO=DISTRO_NAME,
            OTEL_PYTHON_CONFIGURATOR=DISTRO_NAME,
            PYTHONUNBUFFERED="1",
        )
    child.update(overrides or {})
    return child
