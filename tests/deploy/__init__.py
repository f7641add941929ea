"""Tests of the observability stack files: Prometheus, Grafana, the collector, Compose."""
