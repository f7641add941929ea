"""Both start paths wire the same instrumentation for every combination of the standard variables.

Each case runs `tests.otel.wiring_probe` twice as a subprocess, once plainly and
once under `opentelemetry-instrument`, and compares what wraps the Flask app and
which interceptors sit on the gRPC channel and server with what the case expects.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.processes import launcher_command, module_command
from tests.support import REPO

EXAMPLES = REPO / "config" / "otel"

PROBE = "tests.otel.wiring_probe"
CONTRACT_MIDDLEWARE = "otel.wsgi_middleware.RequestMetricsMiddleware"
UPSTREAM_FLASK = "opentelemetry.instrumentation.flask._rewrapped_app.<locals>._wrapped_app"
FLASK_APP = "flask.app.Flask.wsgi_app"
CONTRACT_CLIENT = "otel.grpc_client.MeteredChannel"
CONTRACT_SERVER = "otel.grpc_interceptors.RpcServerMetricsInterceptor"
# Upstream's gRPC tracing, inside the project's wrapper that skips it for spans certain to drop.
TRACING_CLIENT = [
    "otel.grpc_tracing._ShortPathChannel",
    "opentelemetry.instrumentation.grpc._client.OpenTelemetryClientInterceptor",
]
TRACING_SERVER = [
    "otel.grpc_tracing.TracingServerInterceptor",
    "opentelemetry.instrumentation.grpc._server.OpenTelemetryServerInterceptor",
]


@dataclass(frozen=True)
class Case:
    """One combination of variables and the instrumentation it must give."""

    id: str
    traces: str
    metrics: str
    sdk_disabled: str
    disabled: str
    flask: bool  # upstream Flask instrumentation on the app
    client_tracing: bool
    server_tracing: bool
    runtime: bool
    contract: bool = True
    config_file: str = ""  # an example of config/otel/, which replaces the OTEL_* variables
    grpc_excluded: str = ""  # OTEL_PYTHON_GRPC_EXCLUDED_SERVICES

    def environ(self) -> dict[str, str]:
        """The variables of this case."""
        config_file = (
            {"OTEL_CONFIG_FILE": str(EXAMPLES / self.config_file)} if self.config_file else {}
        )
        return {
            **config_file,
            "OTEL_TRACES_EXPORTER": self.traces,
            "OTEL_METRICS_EXPORTER": self.metrics,
            "OTEL_SDK_DISABLED": self.sdk_disabled,
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": self.disabled,
            "OTEL_PYTHON_GRPC_EXCLUDED_SERVICES": self.grpc_excluded,
            # Never contacted: the probe exports nothing.
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        }

    def expected(self) -> dict[str, Any]:
        """The wiring the probe must report."""
        contract = self.contract
        wsgi = [CONTRACT_MIDDLEWARE] if contract else []
        wsgi.append(UPSTREAM_FLASK if self.flask else FLASK_APP)
        return {
            "app": {"class": "flask.app.Flask", "upstream_flask": self.flask, "wsgi": wsgi},
            "channel": [CONTRACT_CLIENT] * contract + TRACING_CLIENT * self.client_tracing,
            "server": TRACING_SERVER * self.server_tracing + [CONTRACT_SERVER] * contract,
            "runtime_metrics": self.runtime,
            "excluded_services": {
                "channel": self._excluded(self.client_tracing),
                "server": self._excluded(self.server_tracing),
            },
        }

    def _excluded(self, traced: bool) -> list[str]:
        names = {name.strip() for name in self.grpc_excluded.split(",") if name.strip()}
        return sorted(names) if traced else []


CASES = [
    Case("default", "none", "prometheus", "false", "", True, False, False, True),
    Case("traces", "otlp", "prometheus", "false", "", True, True, True, True),
    Case("lean", "none", "prometheus", "false", "flask", False, False, False, True),
    Case("lean-traces", "otlp", "prometheus", "false", "flask", False, True, True, True),
    Case("no-grpc-client", "otlp", "prometheus", "false", "grpc_client", True, False, True, True),
    Case(
        "no-grpc-server-runtime",
        "otlp",
        "none",
        "false",
        " grpc_server , system_metrics",
        True,
        True,
        False,
        False,
    ),
    Case("nothing-exported", "none", "none", "false", "", True, False, False, True),
    # The services' own gRPC tracing reads upstream's variable in both paths.
    Case(
        "grpc-excluded-services",
        "otlp",
        "prometheus",
        "false",
        "",
        *(True, True, True, True),
        grpc_excluded=" orders.v1.OrderService ,grpc.health.v1.Health",
    ),
    Case("all-disabled", "otlp", "otlp", "false", "*", False, False, False, False),
    Case("sdk-disabled", "otlp", "prometheus", "true", "", False, False, False, False, False),
    # The file sends spans although OTEL_TRACES_EXPORTER says none.
    Case(
        "file-traces", "none", "prometheus", "false", "", True, True, True, True, True, "otlp.yaml"
    ),
    Case(
        "file-lean",
        "otlp",
        "none",
        "false",
        "flask",
        False,
        False,
        False,
        True,
        True,
        "prometheus.yaml",
    ),
    # The example's `disabled: ${OTEL_SDK_DISABLED:-false}`.
    Case(
        "file-disabled",
        "otlp",
        "otlp",
        "true",
        "",
        False,
        False,
        False,
        False,
        False,
        "prometheus.yaml",
    ),
]


def _probe(command: list[str], environ: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        command,
        env=child_environ(environ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    wiring: dict[str, Any] = json.loads(result.stdout)
    return wiring


@pytest.fixture(scope="module")
def wiring() -> dict[tuple[str, str], dict[str, Any]]:
    """Every case's wiring in both paths, probed two processes at a time."""
    paths = {"plain": module_command(PROBE), "launcher": launcher_command(PROBE)}
    jobs = [(case, path) for case in CASES for path in paths]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda job: _probe(paths[job[1]], job[0].environ()), jobs)
        return {(case.id, path): result for (case, path), result in zip(jobs, results, strict=True)}


@pytest.mark.parametrize("path", ["plain", "launcher"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_each_start_path_wires_what_the_variables_ask_for(
    wiring: dict[tuple[str, str], dict[str, Any]], case: Case, path: str
) -> None:
    assert wiring[(case.id, path)] == case.expected()


def test_the_launchers_flag_disables_like_the_variable() -> None:
    (lean,) = [case for case in CASES if case.id == "lean"]
    environ = {**lean.environ(), "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ""}
    launcher, *command = launcher_command(PROBE)
    flagged = [launcher, "--disabled_instrumentations", "flask", *command]
    assert _probe(flagged, environ) == lean.expected()
