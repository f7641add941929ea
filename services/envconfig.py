"""Parsers for the services' own environment variables, with errors that name the variable.

`OTEL_*` variables are not read here: they belong to the OpenTelemetry SDK.
"""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """A configuration variable with a bad value; the message names it."""


def address(environ: Mapping[str, str], name: str, default: str) -> str:
    """Return a HOST:PORT value (port 0 allowed: any free port)."""
    value = environ.get(name) or default
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{name}={value!r}: expected HOST:PORT, e.g. {default}")
    return value


def grpc_target(environ: Mapping[str, str], name: str, default: str) -> str:
    """Return a gRPC target: HOST:PORT, dns:///HOST:PORT, ipv4:A:P,B:P, ipv6:[A]:P,…, unix:PATH.

    These are the name-resolver schemes of gRPC's naming document; a target
    resolving to several addresses is balanced by the client's service config.
    """
    value = environ.get(name) or default
    scheme, _, rest = value.partition(":")
    if scheme == "unix" and rest.strip("/"):
        return value
    if scheme == "dns":
        # dns:[//authority/]host:port — the authority (a DNS server) is optional.
        host_port = rest.rpartition("/")[2] if rest.startswith("//") else rest
        if _is_host_port(host_port):
            return value
    elif scheme in ("ipv4", "ipv6"):
        if rest and all(_is_host_port(entry) for entry in rest.split(",")):
            return value
    elif _is_host_port(value):
        return value
    raise ConfigError(
        f"{name}={value!r}: expected HOST:PORT or a gRPC target such as "
        "dns:///order-api:50051 or ipv4:127.0.0.1:50051,127.0.0.1:50052"
    )


def _is_host_port(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) <= 65535)


def integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """Return a whole number within [low, high]."""
    value = environ.get(name)
    if not value:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConfigError(f"{name}={value!r}: expected a whole number from {low} to {high}")
    return int(value)


def seconds(environ: Mapping[str, str], name: str, default: float, high: float = 3600) -> float:
    """Return a positive duration in seconds, at most `high`."""
    value = environ.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= high:
        raise ConfigError(f"{name}={value!r}: expected seconds between 0 and {high:g}, e.g. 2")
    return number
