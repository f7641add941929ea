"""One reading of the live view: both services' /metrics at one moment.

`read` scrapes every instance of both services; with several instances of a
service their expositions are merged, each sample labelled `instance`
(host:port, as Prometheus labels it), so the view shows sums over instances
and a row per instance. A failed scrape is recorded in the reading, not raised.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from otel_stack.harness.histograms import Bucket
from otel_stack.harness.scrape import Exposition, LabelKey, ScrapeError, scrape

INSTANCE_LABEL = "instance"


@dataclass(frozen=True)
class Reading:
    """Both expositions at one moment (None where the scrape failed, with the reason).

    `client` holds the latencies the traffic generator measured so far, as
    cumulative buckets per `METHOD /route` (empty without a traffic generator).
    `native_routes` (by method and route) and `native_rpcs` (by method) hold the
    cumulative buckets of the services' native duration histograms, where
    Prometheus has them (empty otherwise).
    """

    at: float
    gateway: Exposition | None
    order_api: Exposition | None
    errors: tuple[str, ...] = ()
    client: Mapping[str, Sequence[Bucket]] = field(default_factory=dict)
    wall_time: float = 0.0  # time.time() of the reading: exemplars carry wall-clock stamps
    native_routes: Mapping[LabelKey, Mapping[float, float]] = field(default_factory=dict)
    native_rpcs: Mapping[LabelKey, Mapping[float, float]] = field(default_factory=dict)


def read(
    gateway_metrics_urls: Sequence[str] | str,
    order_api_metrics_urls: Sequence[str] | str,
    client: Callable[[], Mapping[str, Sequence[Bucket]]] | None = None,
    *,
    openmetrics: bool = True,
    context: ssl.SSLContext | None = None,
) -> Reading:
    """Scrape every instance of both services now; a failed scrape is recorded, not raised.

    `client` gives the traffic generator's latencies so far (see `Reading.client`).
    Scrapes ask for OpenMetrics (with exemplars) unless told otherwise; `context`
    is the TLS context for https URLs.
    """
    errors: list[str] = []
    merged: list[Exposition | None] = []
    for urls in (gateway_metrics_urls, order_api_metrics_urls):
        scraped: list[Exposition] = []
        url_list = [urls] if isinstance(urls, str) else list(urls)
        for url in url_list:
            try:
                exposition = scrape(url, timeout=2.0, openmetrics=openmetrics, context=context)
            except ScrapeError as error:
                errors.append(str(error))
                continue
            if len(url_list) > 1:
                exposition = exposition.with_label(INSTANCE_LABEL, _instance(url))
            scraped.append(exposition)
        merged.append(Exposition.merge(scraped) if scraped else None)
    measured = client() if client is not None else {}
    return Reading(
        time.monotonic(), merged[0], merged[1], tuple(errors), measured, wall_time=time.time()
    )


def _instance(url: str) -> str:
    """host:port of a /metrics URL, as Prometheus' `instance` label."""
    return url.split("//", 1)[-1].split("/", 1)[0]
