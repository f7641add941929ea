"""What the live view says about alerts: Prometheus' pending and firing alerts, the latest pages.

`read_alerts` asks Prometheus' `/api/v1/alerts`; `render` lays the alerts and
the alert sink's latest notifications out as plain text lines under the
request tables.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from otel_stack.harness.alert_sink import Notification, format_notification

LATEST_NOTIFICATIONS = 5


class AlertsUnavailableError(Exception):
    """Prometheus' alerts could not be read; the message says why."""


@dataclass(frozen=True)
class ActiveAlert:
    """A pending or firing alert: its name, state, severity and distinguishing labels."""

    name: str
    state: str
    severity: str
    labels: tuple[tuple[str, str], ...]


def read_alerts(prometheus_url: str, *, timeout: float = 2.0) -> list[ActiveAlert]:
    """Pending and firing alerts, firing and critical first; raise AlertsUnavailableError."""
    try:
        with urllib.request.urlopen(  # noqa: S310 - the local Prometheus
            f"{prometheus_url.rstrip('/')}/api/v1/alerts", timeout=timeout
        ) as response:
            document = json.loads(response.read())
        items = document["data"]["alerts"]
        alerts = [
            ActiveAlert(
                name=item["labels"].get("alertname", ""),
                state=item["state"],
                severity=item["labels"].get("severity", ""),
                labels=tuple(
                    sorted(
                        (key, value)
                        for key, value in item["labels"].items()
                        if key not in {"alertname", "severity"}
                    )
                ),
            )
            for item in items
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AlertsUnavailableError(f"alerts of {prometheus_url}: {error}") from None
    return sorted(
        alerts,
        key=lambda alert: (
            alert.state != "firing",
            alert.severity != "critical",
            alert.name,
            alert.labels,
        ),
    )


def render(
    alerts: Sequence[ActiveAlert] | None, notifications: Sequence[Notification]
) -> list[str]:
    """The ALERTS block: each active alert, then the latest notifications the sink received."""
    lines = ["ALERTS (prometheus)"]
    if alerts is None:
        lines.append("(unavailable)")
    elif not alerts:
        lines.append("(none pending or firing)")
    for alert in alerts or ():
        labels = " ".join(f"{key}={value}" for key, value in alert.labels)
        lines.append(f"{alert.state:<8} {alert.severity:<8} {alert.name} {labels}".rstrip())
    latest = [line for item in notifications for line in format_notification(item)]
    lines += ["", "NOTIFICATIONS (alert sink: page = critical, ticket = warning)"]
    lines += latest[-LATEST_NOTIFICATIONS:] or ["(none received yet)"]
    return lines
