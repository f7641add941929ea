"""What an OpenTelemetry configuration file may not change: the metric contract's series.

SDK Views do not override each other, so the project's Views cannot be laid on
top of a file's: a file View that can select a contract instrument
(`otel.metric_contract`) is refused, as are Prometheus exporter settings that
would rename or relabel the contract's series, and a second pull reader (a
service has one /metrics). Each refusal is one line naming the file
(`file_error`).
"""

from __future__ import annotations

import logging

from opentelemetry.configuration.models import (
    ExperimentalPrometheusMetricExporter,
    ExperimentalPrometheusTranslationStrategy,
)
from opentelemetry.configuration.models import MeterProvider as MeterProviderConfig
from opentelemetry.configuration.models import View as ViewConfig

from otel import settings
from otel.metric_contract import Selector, first_selected
from otel.settings import ConfigError

# The file's warnings keep the one logger name they have always had.
logger = logging.getLogger("otel.config_file")

CONFIG_FILE = settings.CONFIG_FILE
_PROMETHEUS_NAMES = ExperimentalPrometheusTranslationStrategy.underscore_escaping_with_suffixes


def file_error(path: str, problem: str) -> ConfigError:
    """The one-line error naming the file (`OTEL_CONFIG_FILE=path: problem`)."""
    one_line = " ".join(problem.split())
    return ConfigError(f"{CONFIG_FILE}={path}: {one_line}")


def prometheus_exporter(
    path: str, config: MeterProviderConfig | None
) -> ExperimentalPrometheusMetricExporter | None:
    """The one `prometheus/development` pull exporter, checked against the contract."""
    pulls = [reader.pull for reader in (config.readers if config else []) if reader.pull]
    if not pulls:
        return None
    if len(pulls) > 1:
        raise file_error(path, "more than one pull reader (a service has one /metrics)")
    exporter = pulls[0].exporter.prometheus_development
    if exporter is None:
        raise file_error(path, "the only pull exporter supported is prometheus/development")
    if exporter.translation_strategy not in (None, _PROMETHEUS_NAMES):
        raise file_error(
            path,
            f"translation_strategy {exporter.translation_strategy.value} would rename the "
            f"metric contract's series (only {_PROMETHEUS_NAMES.value})",
        )
    if exporter.target_info_enabled_development is False:
        raise file_error(path, "target_info is part of the metric contract; it cannot be disabled")
    if exporter.resource_constant_labels is not None:
        raise file_error(
            path, "resource_constant_labels would add labels to the metric contract's series"
        )
    if exporter.port is not None and not 0 <= exporter.port <= 65535:
        raise file_error(path, f"prometheus/development port {exporter.port}: expected 0-65535")
    if exporter.scope_info_enabled:
        logger.warning(
            "%s=%s: scope_info_enabled is overridden: the services' /metrics carry no "
            "otel_scope_* labels",
            CONFIG_FILE,
            path,
        )
    return exporter


def refuse_contract_views(path: str, config: MeterProviderConfig | None) -> None:
    """Raise if one of the file's Views can select an instrument of the metric contract."""
    for position, view in enumerate((config.views or []) if config else []):
        instrument = first_selected(_selector(view))
        if instrument is not None:
            raise file_error(
                path,
                f"meter_provider.views[{position}] selects {instrument.name} "
                f"({instrument.scope}), part of the metric contract: narrow its selector "
                "(Views cannot change the contract's names, buckets or labels)",
            )


def _selector(view: ViewConfig) -> Selector:
    selector = view.selector
    return Selector(
        instrument_name=selector.instrument_name,
        instrument_type=selector.instrument_type.value if selector.instrument_type else None,
        unit=selector.unit,
        meter_name=selector.meter_name,
        meter_version=selector.meter_version,
        meter_schema_url=selector.meter_schema_url,
    )
