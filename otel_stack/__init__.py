"""The `otel-stack` command: run, load, watch and verify the two services locally."""
