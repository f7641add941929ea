"""The live view's reading when the services push to Prometheus: no /metrics to scrape.

With `otel-stack up --otlp-prometheus` the services' metrics exist only in
Prometheus. `read` takes the same series the view scrapes elsewhere from
Prometheus' `/federate` endpoint (the classic text format, every series with its
`job` and `instance`), so `liveview.window.compare` works unchanged, and the
semantic-convention duration histograms, which arrive as native histograms,
from the query API (`native_histograms`), so the view shows real quantiles for
them. A failed request is recorded in the reading, as a failed scrape is.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_stack.cli.liveview.reading import Reading
from otel_stack.deploy.prometheus_config import GATEWAY_JOB, ORDER_API_JOB
from otel_stack.harness import native_histograms
from otel_stack.harness.histograms import Bucket
from otel_stack.harness.scrape import Exposition, LabelKey, ScrapeError, fetch

# The series the live view reads (see liveview.window.compare), by job.
CLASSIC_SERIES = {
    GATEWAY_JOB: ("http_requests_total", "http_request_duration_seconds_bucket"),
    ORDER_API_JOB: (
        "grpc_requests_total",
        "grpc_request_duration_seconds_bucket",
        "orders_created_total",
    ),
}
# Native histograms behind the rows: gateway rows by (method, route), order-api rows by method.
NATIVE_ROUTES = "http_server_request_duration_seconds"
NATIVE_RPCS = "rpc_server_call_duration_seconds"
TIMEOUT_SECONDS = 2.0


class PrometheusQueryError(Exception):
    """Prometheus did not answer a query; the message says which and why."""


def read(
    prometheus_url: str, client: Callable[[], Mapping[str, Sequence[Bucket]]] | None = None
) -> Reading:
    """Both services' series and native histograms, as Prometheus has them now."""
    errors: list[str] = []
    expositions: list[Exposition | None] = []
    for job, names in CLASSIC_SERIES.items():
        try:
            expositions.append(federate(prometheus_url, job, names))
        except ScrapeError as error:
            errors.append(str(error))
            expositions.append(None)
    routes: dict[LabelKey, dict[float, float]] = {}
    rpcs: dict[LabelKey, dict[float, float]] = {}
    try:
        routes = native_rows(
            query(prometheus_url, f'{NATIVE_ROUTES}{{job="{GATEWAY_JOB}"}}'),
            lambda labels: (labels.get("http_request_method", ""), labels.get("http_route", "")),
        )
        rpcs = native_rows(
            query(prometheus_url, f'{NATIVE_RPCS}{{job="{ORDER_API_JOB}"}}'),
            lambda labels: (labels.get("rpc_method", "").rpartition("/")[2],),
        )
    except PrometheusQueryError as error:
        errors.append(str(error))
    return Reading(
        time.monotonic(),
        expositions[0],
        expositions[1],
        tuple(errors),
        client() if client is not None else {},
        wall_time=time.time(),
        native_routes=routes,
        native_rpcs=rpcs,
    )


def federate(prometheus_url: str, job: str, names: Sequence[str]) -> Exposition:
    """The current value of every series `names` of `job`, in the classic text format."""
    selector = f'{{job="{job}", __name__=~"{"|".join(names)}"}}'
    url = f"{prometheus_url}/federate?{urllib.parse.urlencode({'match[]': selector})}"
    return Exposition.parse(fetch(url, timeout=TIMEOUT_SECONDS))


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector."""
    url = f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            document = json.loads(response.read())
    except (OSError, ValueError) as error:
        raise PrometheusQueryError(f"cannot query {prometheus_url}: {error}") from None
    if document.get("status") != "success":
        raise PrometheusQueryError(f"{expr}: {document.get('error', 'failed')}")
    result: list[dict[str, Any]] = document["data"]["result"]
    return result


def native_rows(
    result: list[dict[str, Any]], key: Callable[[Mapping[str, str]], LabelKey]
) -> dict[LabelKey, dict[float, float]]:
    """Cumulative buckets of the native histograms in `result`, summed by `key(labels)`."""
    grouped: dict[LabelKey, list[dict[float, float]]] = defaultdict(list)
    for series in result:
        if "histogram" in series:  # a float sample of the same name would be a classic series
            grouped[key(series["metric"])].append(
                native_histograms.cumulative(series["histogram"][1])
            )
    return {row: native_histograms.merge(histograms) for row, histograms in grouped.items()}
