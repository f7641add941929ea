"""The files the stack ships with: links to the repository's own, packaged into the wheel.

The Prometheus rules (`prometheus/rules/`), the Alertmanager config
(`alertmanager/alertmanager.yml`), the collector's config (`collector-config.yaml`) and
its build manifest (`otelcol/builder-config.yaml`) live at the repository's root,
where users look for them. The links in this folder make them package data, so an
installed wheel or the container image carries them too.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent
PROMETHEUS_RULES = DATA / "prometheus_rules"
ALERTMANAGER_CONFIG = DATA / "alertmanager.yml"
COLLECTOR_CONFIG = DATA / "collector-config.yaml"
COLLECTOR_MANIFEST = DATA / "otelcol-builder-config.yaml"
