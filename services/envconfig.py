"""Parsers for the services' own environment variables, with errors that name the variable.

The `OTEL_*` variables are parsed by `otel.settings`, whose `ConfigError` is the
one error of bad configuration for both.
"""

from __future__ import annotations

from collections.abc import Mapping

from otel.settings import ConfigError

__all__ = [
    "ConfigError",
    "access_log",
    "address",
    "format_address",
    "fraction",
    "grpc_target",
    "integer",
    "seconds",
]

ACCESS_LOG = "ACCESS_LOG"


def address(environ: Mapping[str, str], name: str, default: tuple[str, int]) -> tuple[str, int]:
    """Return a HOST:PORT value as (host, port), IPv6 brackets removed (port 0: any free port)."""
    value = environ.get(name) or format_address(default)
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{name}={value!r}: expected HOST:PORT, e.g. {format_address(default)}")
    return host, int(port)


def format_address(address: tuple[str, int]) -> str:
    """HOST:PORT, with an IPv6 host in brackets."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def access_log(environ: Mapping[str, str]) -> float:
    """The fraction of requests ACCESS_LOG keeps an access line of: `on` (1), `off` (0) or 0-1."""
    raw = environ.get(ACCESS_LOG, "").strip().lower()
    if raw in ("", "on", "true", "1"):
        return 1.0
    if raw in ("off", "false"):
        return 0.0
    ratio = fraction(raw)
    if ratio is None:
        raise ConfigError(f"{ACCESS_LOG}={raw!r}: expected on, off or a fraction between 0 and 1")
    return ratio


def fraction(text: str) -> float | None:
    """`text` as a number from 0 to 1 (a ratio); None when it is not one."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


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
