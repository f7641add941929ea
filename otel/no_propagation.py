"""A propagator that propagates nothing: what a configuration file without propagators asks."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)


class NoPropagation(TextMapPropagator):
    """Propagates nothing, as a file without propagators asks.

    An empty `CompositePropagator` returns None from `extract` when given no
    context, which breaks every request the Flask instrumentation serves; this
    returns an empty context instead.
    """

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        return context if context is not None else Context()

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        return None

    @property
    def fields(self) -> set[str]:
        return set()
