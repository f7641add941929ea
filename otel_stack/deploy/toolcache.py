"""Where built tools (the collector, Prometheus) are cached: outside the work tree.

Builds from Go modules take minutes, so `make` targets keep their output in one
cache folder, in a sub-folder keyed by everything that went into the build (a
manifest's hash, a version). An unchanged input is never rebuilt, and nothing
built is ever committed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CACHE_VARIABLE = "OTEL_STACK_CACHE"


def cache_root(environ: Mapping[str, str] = os.environ) -> Path:
    """`$OTEL_STACK_CACHE`, else `$XDG_CACHE_HOME/otel-stack`, else `~/.cache/otel-stack`."""
    explicit = environ.get(CACHE_VARIABLE)
    if explicit:
        return Path(explicit)
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "otel-stack"
