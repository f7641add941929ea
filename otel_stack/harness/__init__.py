"""Everything the CLI, the tests and the benchmarks start and talk to on this machine.

Processes and their readiness, the two services as processes, scrapes, HTTP calls,
request mixes and paced load, an OTLP receiver, the alert sink, and local Prometheus,
Alertmanager, PostgreSQL and OpenTelemetry Collector servers.
"""
