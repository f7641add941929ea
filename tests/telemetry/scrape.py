"""Scraping a real /metrics endpoint and reading exact values out of it."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.prometheus_tools import promtool

SCOPE_LABELS = ("otel_scope_name", "otel_scope_version", "otel_scope_schema_url")


@dataclass(frozen=True)
class Scrape:
    """One parsed exposition."""

    text: str
    types: dict[str, str]
    samples: list[Sample]

    def value(self, name: str, **labels: str) -> float:
        """The value of the sample `name` whose labels (scope labels aside) equal `labels`."""
        matches = [
            sample.value
            for sample in self.samples
            if sample.name == name and _own_labels(sample) == labels
        ]
        assert len(matches) <= 1, f"{name}{labels} is ambiguous"
        return matches[0] if matches else 0.0

    def label_sets(self, name: str) -> list[dict[str, str]]:
        """The label sets (scope labels aside) of every sample called `name`."""
        return [_own_labels(sample) for sample in self.samples if sample.name == name]

    def buckets(self, name: str, **labels: str) -> list[str]:
        """The `le` bounds of a histogram series, in exposition order."""
        return [
            sample.labels["le"]
            for sample in self.samples
            if sample.name == f"{name}_bucket"
            and {k: v for k, v in _own_labels(sample).items() if k != "le"} == labels
        ]


def _own_labels(sample: Sample) -> dict[str, str]:
    return {k: v for k, v in sample.labels.items() if k not in SCOPE_LABELS}


def scrape(url: str, accept: str | None = None) -> Scrape:
    """GET and parse a Prometheus text exposition."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    families = list(text_string_to_metric_families(text))
    return Scrape(
        text=text,
        types={family.name: family.type for family in families},
        samples=[sample for family in families for sample in family.samples],
    )


def assert_promtool_clean(text: str) -> None:
    """`promtool check metrics` reports nothing for this exposition."""
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout + result.stderr
    )
