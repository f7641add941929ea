"""The instruments behind the metric contract, for deciding what a View may not touch.

Every series of the README's metric tables comes from one of these
instruments: the project's own (meter `otel-python-microservices`), the
upstream Flask instrumentation's two and the runtime metrics the services
switch on. The Views in `otel.views` shape some of them; a View from
elsewhere (the configuration file) that selects one of them would change a
name, buckets or labels that recording rules, alerts and dashboards rely on.
`first_selected` tells which contract instrument a View selector can match,
with the SDK's matching rules (`View._match`: case-insensitive name globs,
case-sensitive unit globs, exact meter name).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from otel.instruments import METER_NAME, METER_VERSION

FLASK_SCOPE = "opentelemetry.instrumentation.flask"
SYSTEM_METRICS_SCOPE = "opentelemetry.instrumentation.system_metrics"


@dataclass(frozen=True)
class ContractInstrument:
    """One instrument as a View selector sees it; `kind` uses the configuration file's names."""

    scope: str
    name: str
    kind: str
    unit: str
    scope_version: str | None = None


def _own(name: str, kind: str, unit: str) -> ContractInstrument:
    return ContractInstrument(METER_NAME, name, kind, unit, METER_VERSION)


CONTRACT_INSTRUMENTS: tuple[ContractInstrument, ...] = (
    _own("http.requests", "observable_counter", "{request}"),
    _own("http.request.duration", "histogram", "s"),
    _own("http.server.open_connections", "observable_gauge", "{connection}"),
    _own("http.server.refused_connections", "observable_counter", "{connection}"),
    _own("rpc.client.call.duration", "histogram", "s"),
    _own("grpc.requests", "observable_counter", "{request}"),
    _own("rpc.server.call.duration", "histogram", "s"),
    _own("orders.created", "counter", "{order}"),
    _own("db.client.connection.count", "observable_up_down_counter", "{connection}"),
    _own("db.client.connection.pending_requests", "observable_up_down_counter", "{request}"),
    _own("db.client.connection.max", "observable_up_down_counter", "{connection}"),
    ContractInstrument(FLASK_SCOPE, "http.server.request.duration", "histogram", "s"),
    ContractInstrument(FLASK_SCOPE, "http.server.active_requests", "up_down_counter", "{request}"),
    ContractInstrument(SYSTEM_METRICS_SCOPE, "process.cpu.time", "observable_counter", "s"),
    ContractInstrument(
        SYSTEM_METRICS_SCOPE, "process.memory.usage", "observable_up_down_counter", "By"
    ),
    ContractInstrument(
        SYSTEM_METRICS_SCOPE, "process.memory.virtual", "observable_up_down_counter", "By"
    ),
    ContractInstrument(
        SYSTEM_METRICS_SCOPE, "process.open_file_descriptor.count", "observable_up_down_counter", ""
    ),
    ContractInstrument(
        SYSTEM_METRICS_SCOPE, "process.thread.count", "observable_up_down_counter", ""
    ),
    ContractInstrument(
        SYSTEM_METRICS_SCOPE, "cpython.gc.collections", "observable_counter", "{collection}"
    ),
)


@dataclass(frozen=True)
class Selector:
    """The fields of a View selector (None: any)."""

    instrument_name: str | None = None
    instrument_type: str | None = None
    unit: str | None = None
    meter_name: str | None = None
    meter_version: str | None = None
    meter_schema_url: str | None = None


def selects(selector: Selector, instrument: ContractInstrument) -> bool:
    """Whether a View with this selector would match the instrument (the SDK's rules)."""
    if selector.instrument_type is not None and selector.instrument_type != instrument.kind:
        return False
    if selector.instrument_name is not None and not fnmatchcase(
        instrument.name, selector.instrument_name.lower()
    ):
        return False
    if selector.unit is not None and not fnmatchcase(instrument.unit, selector.unit):
        return False
    if selector.meter_name is not None and selector.meter_name != instrument.scope:
        return False
    # Versions and schema URLs of upstream scopes move with upstream releases: a selector
    # narrowed by them alone counts as matching (refused rather than risked).
    return not (
        selector.meter_version is not None
        and instrument.scope_version is not None
        and selector.meter_version != instrument.scope_version
    )


def first_selected(selector: Selector) -> ContractInstrument | None:
    """The first contract instrument the selector matches, or None."""
    for instrument in CONTRACT_INSTRUMENTS:
        if selects(selector, instrument):
            return instrument
    return None
