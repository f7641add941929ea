"""OpenTelemetry wiring shared by both services.

`otel.settings` parses the standard `OTEL_*` variables the project acts on;
`otel.sdk` builds the providers, readers and exporters they select and installs
them. A service's entry point calls `otel.sdk.build_and_install`, then hands the
resulting `Telemetry` (its providers among it) to `otel.wsgi_middleware`,
`otel.grpc_interceptors` and `otel.grpc_client`. Nothing here imports the services.
"""
