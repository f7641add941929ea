"""The benchmark suite: what telemetry costs, measured side by side in one run (`make bench`)."""
