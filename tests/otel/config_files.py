"""OpenTelemetry configuration files written for a test, and a service's telemetry built from one.

`EnvTelemetry` and `FileTelemetry` are the types of the `env_telemetry` and
`file_telemetry` fixtures (tests/otel/conftest.py).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from otel.sdk import Telemetry

EnvTelemetry = Callable[..., Telemetry]
FileTelemetry = Callable[..., Telemetry]


def write_config(tmp_path: Path, text: str) -> Path:
    """Write `text` (dedented) as tmp_path/otel.yaml; its path."""
    path = tmp_path / "otel.yaml"
    path.write_text(textwrap.dedent(text))
    return path


PROMETHEUS_READER = """\
    file_format: "1.0"
    meter_provider:
      readers:
        - pull:
            exporter:
              prometheus/development: {prometheus}
"""


def prometheus_config(tmp_path: Path, prometheus: str = "{}", views: str = "") -> Path:
    """A file with one Prometheus pull reader (its settings as given) and these Views."""
    text = PROMETHEUS_READER.format(prometheus=prometheus)
    return write_config(tmp_path, text + ("      views:\n" + views if views else ""))
