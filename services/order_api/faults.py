"""Fault injection for demonstrations: added latency and errors per RPC method.

Off by default. Specs come from `ORDER_API_FAULTS` (comma-separated) or the
`otel-stack up --inject` flag, e.g. `latency:GetOrder=300ms` or
`error:CreateOrder=0.05` (optionally `error:CreateOrder=0.05:UNAVAILABLE`;
the default code is INTERNAL).
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc

from services.envconfig import fraction

METHODS = ("CreateOrder", "GetOrder", "ListOrders")

_SPEC = re.compile(r"(?P<kind>latency|error):(?P<method>\w+)=(?P<value>[^:]+)(?::(?P<code>\w+))?")
_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<unit>ms|s)")
MAX_LATENCY_SECONDS = 60.0


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message says which and why."""


@dataclass(frozen=True)
class MethodFaults:
    """Faults for one method."""

    latency_seconds: float = 0.0
    error_ratio: float = 0.0
    error_code: grpc.StatusCode = grpc.StatusCode.INTERNAL


@dataclass(frozen=True)
class FaultPlan:
    """What to inject, per RPC method name."""

    by_method: dict[str, MethodFaults] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> FaultPlan:
        """Build a plan from specs such as `latency:GetOrder=300ms`; raise FaultSpecError."""
        by_method: dict[str, MethodFaults] = {}
        for raw in specs:
            spec = raw.strip()
            if not spec:
                continue
            match = _SPEC.fullmatch(spec)
            if match is None:
                raise FaultSpecError(
                    f"bad fault spec {spec!r}: expected latency:METHOD=300ms or error:METHOD=0.05"
                )
            method = match["method"]
            if method not in METHODS:
                known = ", ".join(METHODS)
                raise FaultSpecError(
                    f"bad fault spec {spec!r}: unknown method {method!r} ({known})"
                )
            current = by_method.get(method, MethodFaults())
            if match["kind"] == "latency":
                if match["code"] is not None:
                    raise FaultSpecError(f"bad fault spec {spec!r}: a latency takes no status code")
                by_method[method] = _with_latency(current, spec, match["value"])
            else:
                by_method[method] = _with_error(current, spec, match["value"], match["code"])
        return cls(by_method)

    def apply(self, method: str, context: grpc.ServicerContext) -> None:
        """Sleep and/or abort the call as the plan says for this method."""
        faults = self.by_method.get(method)
        if faults is None:
            return
        if faults.latency_seconds:
            _sleep_while_active(context, faults.latency_seconds)
        if faults.error_ratio and random.random() < faults.error_ratio:  # noqa: S311
            context.abort(faults.error_code, f"injected fault on {method}")


def _sleep_while_active(context: grpc.ServicerContext, seconds: float) -> None:
    """Sleep like a slow dependency, but stop when the call ends, and then end the handler too.

    The call can end during the sleep: its deadline passes, the client cancels, or the
    server stops and its grace period runs out. Sleeping on would hold a worker for
    nothing and, at shutdown, keep the process alive past its grace period and send
    the handler into a store that is already closed.
    """
    ended = threading.Event()
    if context.add_callback(ended.set):  # False: the call has ended already
        ended.wait(seconds)
    if not context.is_active():
        remaining = context.time_remaining()
        code = grpc.StatusCode.CANCELLED
        if remaining is not None and remaining <= 0:
            code = grpc.StatusCode.DEADLINE_EXCEEDED
        context.abort(code, "the call ended during injected latency")


def _with_latency(current: MethodFaults, spec: str, value: str) -> MethodFaults:
    match = _DURATION.fullmatch(value)
    if match is None:
        raise FaultSpecError(f"bad fault spec {spec!r}: latency must look like 300ms or 1.5s")
    seconds = float(match["number"]) / (1000 if match["unit"] == "ms" else 1)
    if seconds > MAX_LATENCY_SECONDS:
        raise FaultSpecError(f"bad fault spec {spec!r}: latency above {MAX_LATENCY_SECONDS:g}s")
    return MethodFaults(seconds, current.error_ratio, current.error_code)


def _with_error(
    current: MethodFaults, spec: str, value: str, code_name: str | None
) -> MethodFaults:
    ratio = fraction(value)
    if ratio is None:
        raise FaultSpecError(f"bad fault spec {spec!r}: error ratio must be between 0 and 1")
    code = grpc.StatusCode.INTERNAL
    if code_name is not None:
        try:
            code = grpc.StatusCode[code_name]
        except KeyError:
            raise FaultSpecError(
                f"bad fault spec {spec!r}: unknown gRPC code {code_name!r}"
            ) from None
        if code is grpc.StatusCode.OK:
            raise FaultSpecError(f"bad fault spec {spec!r}: an injected error cannot be OK")
    return MethodFaults(current.latency_seconds, ratio, code)
