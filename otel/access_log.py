"""Access lines: one log record per request at the gateway and per RPC at the order-api.

Written where the request metrics are recorded, so each line has exactly the
metric's bounded fields (method, URL rule or RPC method, status, duration) and
the current span's ids — never the raw path, query, headers or body.

ACCESS_LOG turns them on (`on`, the default), off (`off`), or keeps a fraction
(`0.1`). Sampling follows the trace id when there is one, in the same way as
the SDK's trace-id ratio sampler, so with equal ratios the kept lines are
those of the kept traces.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import trace

from otel.exporters import TelemetryConfigError
from otel.logs import FIELDS

ACCESS_LOG = "ACCESS_LOG"
LOGGER_NAME = "access"
_TRACE_ID_LIMIT = 1 << 64


@dataclass(frozen=True)
class AccessLog:
    """Writes access lines to the `access` logger for the given fraction of requests."""

    ratio: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AccessLog:
        """From ACCESS_LOG (`on`, `off` or a fraction 0 to 1); TelemetryConfigError if unusable."""
        raw = environ.get(ACCESS_LOG, "").strip().lower()
        if raw in ("", "on", "true", "1"):
            return cls(1.0)
        if raw in ("off", "false"):
            return cls(0.0)
        try:
            ratio = float(raw)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise TelemetryConfigError(
                f"{ACCESS_LOG}={raw!r}: expected on, off or a fraction between 0 and 1"
            )
        return cls(ratio)

    @property
    def enabled(self) -> bool:
        """Whether any line is written."""
        return self.ratio > 0.0

    def request(self, method: str, route: str, status_code: int, seconds: float) -> None:
        """One gateway request, as recorded in `http_request_duration_seconds`."""
        if not self._sampled():
            return
        _logger.info(
            "%s %s %d",
            method,
            route,
            status_code,
            extra={
                FIELDS: {
                    "http.request.method": method,
                    "http.route": route,
                    "http.response.status_code": status_code,
                    "duration_ms": round(seconds * 1000, 3),
                }
            },
        )

    def rpc(self, service: str, method: str, code: str, seconds: float) -> None:
        """One order-api RPC, as recorded in `grpc_request_duration_seconds`."""
        if not self._sampled():
            return
        _logger.info(
            "%s/%s %s",
            service,
            method,
            code,
            extra={
                FIELDS: {
                    "rpc.service": service,
                    "rpc.method": method,
                    "rpc.response.status_code": code,
                    "duration_ms": round(seconds * 1000, 3),
                }
            },
        )

    def _sampled(self) -> bool:
        if self.ratio >= 1.0:
            return True
        if self.ratio <= 0.0:
            return False
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            return (span_context.trace_id % _TRACE_ID_LIMIT) < self.ratio * _TRACE_ID_LIMIT
        return random.random() < self.ratio  # noqa: S311 - sampling, not security


_logger = logging.getLogger(LOGGER_NAME)
