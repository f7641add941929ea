"""OpenTelemetry wiring shared by both services.

`otel.sdk` owns all SDK setup (providers, readers, exporters chosen by the
standard `OTEL_*` variables); the services only call the small functions in
`otel.flask_hooks` and `otel.grpc_interceptors` and never touch providers.
"""
