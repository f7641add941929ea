"""The types of the `otel-stack` options: each turns a command-line value into a checked one.

An unusable value raises `argparse.ArgumentTypeError`, which argparse reports in
one line naming the option (exit 2).
"""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from otel_stack.cli.up_plan import MAX_REPLICAS
from otel_stack.deploy import go_tools
from otel_stack.harness.load import (
    MAX_CONCURRENCY,
    MAX_DURATION_SECONDS,
    MAX_RATE,
    MAX_REQUESTS,
)
from services.workers import MAX_PROCESSES


def _number(text: str, low: float, high: float, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what} between {low:g} and {high:g}, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 1-65535."""
    return int(_number(text, 1, 65535, "a port")) if text.isdigit() else _bad(text, "a port")


def replicas(text: str) -> int:
    """How many instances of each service `up` runs."""
    return int(_number(text, 1, MAX_REPLICAS, "replicas"))


def processes(text: str) -> int:
    """How many worker processes each service instance runs."""
    if not text.isdigit():
        _bad(text, "a whole number of processes")
    return int(_number(text, 1, MAX_PROCESSES, "processes"))


def address(text: str) -> tuple[str, int]:
    """HOST:PORT as (host, port), IPv6 brackets removed."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        _bad(text, "HOST:PORT")
    return host.strip("[]"), int(port)


def release_name(text: str) -> str:
    """The name of a Go release `build-tools` knows."""
    return text if text in go_tools.RELEASES else _bad(text, " or ".join(sorted(go_tools.RELEASES)))


def seconds(text: str) -> float:
    """A positive duration in seconds, up to the load generator's limit."""
    value = _number(text, 0, MAX_DURATION_SECONDS, "seconds")
    return value if value > 0 else _bad(text, "a positive number of seconds")


def refresh(text: str) -> float:
    """The live view's interval in seconds, 0.1-3600."""
    return _number(text, 0.1, 3600, "seconds")


def rate(text: str) -> float:
    """Requests per second, 0 (as fast as possible) up to the generator's limit."""
    return _number(text, 0, MAX_RATE, "requests per second")


def requests(text: str) -> int:
    """A whole number of requests, at least 1."""
    if not text.isdigit():
        return _bad(text, "a whole number of requests")
    return int(_number(text, 1, MAX_REQUESTS, "requests"))


def concurrency(text: str) -> int:
    """A whole number of load-generator workers, at least 1."""
    if not text.isdigit():
        return _bad(text, "a whole number of workers")
    return int(_number(text, 1, MAX_CONCURRENCY, "workers"))


def _bad(text: str, what: str) -> NoReturn:
    raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
