"""The `otel-stack` commands: `up` and its live view, `verify`, and the console they print to."""
