"""Fetching a Prometheus `/metrics` endpoint and reading series out of the exposition.

`Exposition` wraps the families parsed by
`prometheus_client.parser.text_string_to_metric_families` with the lookups the
live view, the contract checks, tests and benchmarks need: a counter summed by
some labels, a histogram's cumulative buckets by some labels, the exact value
of one series, and a family by the name its samples carry
(`http_requests_total`, not the parser's `http_requests`). The OpenTelemetry
exporter's `otel_scope_*` labels are ignored throughout.
"""

from __future__ import annotations

import math
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Exemplar, Sample

from otel.worker_metrics import WORKER_LABEL

SCOPE_LABELS = frozenset({"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"})
# A service run as several worker processes labels each one's series (otel.worker_metrics).
IGNORED_LABELS = SCOPE_LABELS | {WORKER_LABEL}

TEXT_FORMAT = "text/plain"
OPENMETRICS_FORMAT = "application/openmetrics-text; version=1.0.0"

LabelKey = tuple[str, ...]


class ScrapeError(Exception):
    """A /metrics endpoint that could not be fetched or parsed; the message says which."""


def own_labels(sample: Sample) -> dict[str, str]:
    """A sample's labels without the exporter's `otel_scope_*` labels and the `worker` label."""
    return {key: value for key, value in sample.labels.items() if key not in IGNORED_LABELS}


@dataclass(frozen=True)
class Exposition:
    """One parsed scrape of a /metrics endpoint."""

    families: tuple[Metric, ...]
    text: str = ""

    @classmethod
    def parse(cls, text: str, *, openmetrics: bool = False) -> Exposition:
        """Parse Prometheus text format (or OpenMetrics); raise ScrapeError if it is malformed."""
        parse = openmetrics_families if openmetrics else text_string_to_metric_families
        try:
            return cls(tuple(parse(text)), text)
        except ValueError as error:
            raise ScrapeError(f"malformed exposition: {error}") from None

    @classmethod
    def merge(cls, expositions: Sequence[Exposition]) -> Exposition:
        """One exposition holding every family of several (replicas of one service).

        Lookups sum over samples, so counters and buckets of the result are the
        sums over the instances, as PromQL's `sum by (job, …)` would give. It has no
        `text`: the instances' texts do not make one exposition.
        """
        return cls(tuple(family for exposition in expositions for family in exposition.families))

    def with_label(self, name: str, value: str) -> Exposition:
        """This exposition's families with one more label on every sample (`instance`).

        The result has no `text`: the label is not in it.
        """
        families = []
        for family in self.families:
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [
                sample._replace(labels={**sample.labels, name: value}) for sample in family.samples
            ]
            families.append(labelled)
        return Exposition(tuple(families))

    @property
    def types(self) -> dict[str, str]:
        """Each family's type by the parser's family name (`http_requests` for a counter)."""
        return {family.name: family.type for family in self.families}

    def family(self, name: str) -> Metric | None:
        """The family whose series are called `name` (or `name_bucket` etc. for histograms)."""
        for family in self.families:
            if family.name == name or any(sample.name == name for sample in family.samples):
                return family
        return None

    def samples(self, name: str) -> list[Sample]:
        """Every sample called exactly `name`."""
        return [
            sample for family in self.families for sample in family.samples if sample.name == name
        ]

    def value(self, name: str, **labels: str) -> float:
        """The value of the series `name` whose own labels are exactly `labels` (0 if none).

        Summed over worker processes: one series per worker is still one series of the service.
        """
        matches = [sample for sample in self.samples(name) if own_labels(sample) == labels]
        workers = {sample.labels.get(WORKER_LABEL) for sample in matches}
        if len(matches) > 1 and (None in workers or len(workers) < len(matches)):
            raise ScrapeError(f"{name}{labels} matches {len(matches)} series")
        return sum((sample.value for sample in matches), 0.0)

    def label_sets(self, name: str) -> list[dict[str, str]]:
        """The own labels of every series called `name`."""
        return [own_labels(sample) for sample in self.samples(name)]

    def le_bounds(self, name: str, **labels: str) -> list[str]:
        """The `le` values of histogram `name`'s series with these other labels, as exposed."""
        return [
            sample.labels["le"]
            for sample in self.samples(f"{name}_bucket")
            if {key: value for key, value in own_labels(sample).items() if key != "le"} == labels
        ]

    def counter(self, name: str, by: tuple[str, ...]) -> dict[LabelKey, float]:
        """Values of `name` summed over every label not in `by`, keyed by the `by` values."""
        totals: dict[LabelKey, float] = defaultdict(float)
        for sample in self.samples(name):
            totals[tuple(sample.labels.get(label, "") for label in by)] += sample.value
        return dict(totals)

    def total(self, name: str) -> float:
        """The sum of every series called `name` (0 when there is none)."""
        return sum(sample.value for sample in self.samples(name))

    def buckets(self, name: str, by: tuple[str, ...]) -> dict[LabelKey, dict[float, float]]:
        """Cumulative buckets of histogram `name` summed over labels not in `by`."""
        result: dict[LabelKey, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for sample in self.samples(f"{name}_bucket"):
            key = tuple(sample.labels.get(label, "") for label in by)
            result[key][_bound(sample.labels["le"])] += sample.value
        return {key: dict(buckets) for key, buckets in result.items()}

    def exemplars(self, name: str, by: tuple[str, ...]) -> dict[LabelKey, list[Exemplar]]:
        """The exemplars on histogram `name`'s buckets (OpenMetrics only), grouped by `by`."""
        result: dict[LabelKey, list[Exemplar]] = defaultdict(list)
        for sample in self.samples(f"{name}_bucket"):
            if sample.exemplar is not None:
                result[tuple(sample.labels.get(label, "") for label in by)].append(sample.exemplar)
        return dict(result)


def fetch(url: str, *, timeout: float = 5.0, accept: str = TEXT_FORMAT) -> str:
    """GET an exposition (`accept` may ask for OpenMetrics); raise ScrapeError naming the URL."""
    if not url.startswith(("http://", "https://")):
        raise ScrapeError(f"cannot scrape {url}: expected an http:// URL")
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return str(response.read().decode("utf-8"))
    except (OSError, ValueError) as error:
        raise ScrapeError(f"cannot scrape {url}: {_reason(error)}") from None


def scrape(url: str, *, timeout: float = 5.0, openmetrics: bool = False) -> Exposition:
    """Fetch and parse one /metrics endpoint, in OpenMetrics (with exemplars) if asked."""
    accept = OPENMETRICS_FORMAT if openmetrics else TEXT_FORMAT
    return Exposition.parse(fetch(url, timeout=timeout, accept=accept), openmetrics=openmetrics)


def _bound(le: str) -> float:
    return math.inf if le == "+Inf" else float(le)


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    return str(reason if reason is not None else error)
