"""running.order_api_spec: an order-api over TLS is ready on an address its certificate lacks."""

from __future__ import annotations

from pathlib import Path

from otel_stack.harness import processes, running, stack_tls
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.running import free_port


def test_a_tls_order_api_on_another_loopback_address_is_ready(tmp_path: Path) -> None:
    """As `up --replicas --tls` runs replica 2 on 127.0.0.2: checked for ORDER_API_SERVER_NAME."""
    tls = stack_tls.create(tmp_path / "tls")
    spec = running.order_api_spec(
        tmp_path / "order-api.log",
        tls.services_environ(child_environ()),
        listen=f"127.0.0.2:{free_port()}",
        db=str(tmp_path / "orders.db"),
        metrics=("127.0.0.1", free_port()),
    )

    service = processes.start(spec, timeout=60)
    try:
        assert spec.ready_description.endswith("(TLS)")
    finally:
        assert processes.stop_all([service], grace=10) == {spec.name: 0}
