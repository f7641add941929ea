"""How to run a server of the Prometheus project (Prometheus, Alertmanager) on 127.0.0.1.

Both take `--config.file` and `--web.listen-address`, keep their state under a
flag of their own, and answer `GET /-/ready` with 200 once they serve; each
writes its log to `<name>.log` in the data directory and runs from there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from otel_stack.harness.processes import ServiceSpec
from otel_stack.harness.readiness import http_ok


def local_spec(
    name: str,
    binary: str,
    data_dir: Path,
    *,
    port: int,
    config_path: Path,
    storage_flag: str,
    flags: Sequence[str] = (),
) -> ServiceSpec:
    """The spec of `binary` on 127.0.0.1:`port`, its state where `storage_flag` says."""
    url = f"http://127.0.0.1:{port}"
    return ServiceSpec(
        name=name,
        command=[
            binary,
            f"--config.file={config_path}",
            storage_flag,
            f"--web.listen-address=127.0.0.1:{port}",
            *flags,
        ],
        env=dict(os.environ),
        log_path=data_dir / f"{name}.log",
        ready=lambda: http_ok(f"{url}/-/ready"),
        ready_description=f"GET {url}/-/ready answering 200",
        cwd=data_dir,
    )
