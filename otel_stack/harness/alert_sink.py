"""The alert sink: a small webhook receiver that logs what Alertmanager sends it.

Alertmanager's `page` and `ticket` receivers post to `/page` and `/ticket`
here in the local stack and in compose, so a user who injects a fault sees the
page arrive (`otel-stack alert-sink` prints one line per alert; `otel-stack up`
shows the latest in its live view). `GET /notifications` answers what was
received, as JSON. Bodies are bounded, bad ones get a JSON 4xx, and only the
last `MAX_KEPT` notifications are kept.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_KEPT = 500
RECEIVER_NAME_MAX = 64
SHUTDOWN_POLL_SECONDS = 0.1
REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ReceivedAlert:
    """One alert of a notification: its status, labels and summary."""

    status: str
    labels: dict[str, str]
    summary: str

    @property
    def name(self) -> str:
        """The alert's name (its `alertname` label)."""
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class Notification:
    """One webhook call: which path (receiver) it reached, when, and its alerts."""

    receiver: str
    received_at: float
    status: str
    alerts: tuple[ReceivedAlert, ...]


class PayloadError(ValueError):
    """A webhook body that is not an Alertmanager notification."""


def parse_notification(receiver: str, body: bytes, received_at: float) -> Notification:
    """Read Alertmanager's webhook payload (version 4); raise PayloadError if it is not one."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"body is not JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("alerts"), list):
        raise PayloadError("body has no list of alerts")
    alerts = tuple(_alert(item) for item in document["alerts"])
    return Notification(receiver, received_at, str(document.get("status", "")), alerts)


def format_notification(notification: Notification) -> list[str]:
    """One line per alert: `PAGE firing GatewayErrorBudgetBurn job=web-gateway …: summary`."""
    clock = time.strftime("%H:%M:%S", time.localtime(notification.received_at))
    lines = []
    for alert in notification.alerts:
        labels = " ".join(
            f"{key}={value}"
            for key, value in sorted(alert.labels.items())
            if key not in {"alertname", "severity"}
        )
        head = [clock, notification.receiver.upper(), alert.status, alert.name, labels]
        summary = f": {alert.summary}" if alert.summary else ""
        lines.append(" ".join(part for part in head if part) + summary)
    return lines


class AlertSink:
    """The sink's HTTP server on `host:port` (0: a free port), run in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_notification: Callable[[Notification], None] | None = None,
    ) -> None:
        self._kept: deque[Notification] = deque(maxlen=MAX_KEPT)
        self._lock = threading.Lock()
        self._on_notification = on_notification
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), daemon=True
        )

    @property
    def port(self) -> int:
        """The port the sink listens on."""
        return int(self._server.server_address[1])

    def url(self, receiver: str) -> str:
        """The webhook URL of one receiver, e.g. http://127.0.0.1:9099/page."""
        return f"http://127.0.0.1:{self.port}/{receiver}"

    def start(self) -> AlertSink:
        """Serve in the background."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def notifications(self) -> list[Notification]:
        """What was received so far, oldest first (at most MAX_KEPT)."""
        with self._lock:
            return list(self._kept)

    def record(self, notification: Notification) -> None:
        """Keep a notification and tell the listener."""
        with self._lock:
            self._kept.append(notification)
        for line in format_notification(notification):
            logger.info("%s", line)
        if self._on_notification is not None:
            self._on_notification(notification)


def _alert(item: Any) -> ReceivedAlert:
    if not isinstance(item, dict):
        raise PayloadError("an alert is not an object")
    labels = item.get("labels", {})
    annotations = item.get("annotations", {})
    if not isinstance(labels, dict) or not isinstance(annotations, dict):
        raise PayloadError("alert labels and annotations must be objects")
    return ReceivedAlert(
        status=str(item.get("status", "")),
        labels={str(key): str(value) for key, value in labels.items()},
        summary=str(annotations.get("summary", "")),
    )


def _handler(sink: AlertSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "otel-stack-alert-sink"
        timeout = REQUEST_TIMEOUT_SECONDS  # a stalled client does not hold a thread forever

        def do_POST(self) -> None:
            receiver = self.path.strip("/")
            if not receiver or len(receiver) > RECEIVER_NAME_MAX or not receiver.isidentifier():
                self._json(HTTPStatus.NOT_FOUND, _error("post to /<receiver>, e.g. /page"))
                return
            length = self.headers.get("Content-Length", "")
            if not length.isdigit():
                self._json(HTTPStatus.LENGTH_REQUIRED, _error("Content-Length required"))
                return
            if int(length) > MAX_BODY_BYTES:
                self.close_connection = True
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _error("body over 1 MiB"))
                return
            body = self.rfile.read(int(length))
            try:
                notification = parse_notification(receiver, body, time.time())
            except PayloadError as error:
                self._json(HTTPStatus.BAD_REQUEST, _error(str(error)))
                return
            sink.record(notification)
            self._json(HTTPStatus.OK, {"received": len(notification.alerts)})

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/notifications":
                self._json(HTTPStatus.NOT_FOUND, _error("GET /notifications"))
                return
            self._json(HTTPStatus.OK, [asdict(item) for item in sink.notifications()])

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("alert sink: " + format, *args)

        def _json(self, status: HTTPStatus, document: Any) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _error(message: str) -> Mapping[str, Any]:
    return {"error": {"message": message}}
