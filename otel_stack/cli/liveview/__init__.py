"""The live view of `otel-stack up`: what the two /metrics endpoints say about an interval.

`reading` scrapes both services at one moment; `window` turns two readings into
rates, error ratios, latencies and slowest traces per route, method and
instance; `text` lays that out as plain text lines (the console decides how
they reach the terminal). The names `otel-stack up` uses are here.
"""

from otel_stack.cli.liveview.reading import Reading, read
from otel_stack.cli.liveview.text import render
from otel_stack.cli.liveview.window import Window, compare

__all__ = ["Reading", "Window", "compare", "read", "render"]
