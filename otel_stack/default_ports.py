"""The ports `otel-stack` uses unless told otherwise, written once.

The services' own defaults (the gateway's HTTP port, the order-api's gRPC port and
its `/metrics` listener) come from their configuration; Prometheus, Alertmanager
and the alert sink get their usual ones.
"""

from __future__ import annotations

from otel.settings import DEFAULT_PROMETHEUS_PORT
from services.order_api import config as order_api_config
from services.web_gateway import config as gateway_config

GATEWAY = gateway_config.DEFAULT_PORT
GRPC = order_api_config.DEFAULT_PORT
METRICS = DEFAULT_PROMETHEUS_PORT
PROMETHEUS = 9090
ALERTMANAGER = 9093
ALERT_SINK = 9099
GATEWAY_URL = f"http://127.0.0.1:{GATEWAY}"
ORDER_API_METRICS_URL = f"http://127.0.0.1:{METRICS}/metrics"
