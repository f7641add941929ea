"""How the benchmarks are made: the page's first section."""

from __future__ import annotations

METHOD = """\
# Benchmarks: what the telemetry costs

`make bench` (about 20 minutes on 2 cores, needs `wrk`; `python -m bench --quick` about 5)
runs every suite below and rewrites this page and `bench/results/latest.json`. Every comparison is
measured **in the same run, interleaved** (variants take turns, round after round) and
reported as medians and ratios: absolute numbers depend on the machine, ratios much less.

1. **Gateway request path, in process** — CPU µs per `GET /orders/<id>` through the WSGI
   app with the order-api client replaced by an in-process fake, so only Flask and
   telemetry are measured: no telemetry; the mandated upstream Flask instrumentation alone
   (with a no-op tracer, its metrics dropped by a view, and with the SDK's tracer and the
   `always_off` sampler: `upstream_flask_unsampled`); the project's metrics (upstream + the
   contract's middleware: the default profile); the same with traces exported and the
   `always_off` sampler (`project_unsampled`); full telemetry (metrics + tracing through a
   batch span processor into a discarding exporter); `prometheus-flask-exporter` on the
   same app.
2. **RPC path** — order-api: CPU µs per `GetOrder` of the metrics interceptor called in
   process against the bare servicer method (the interceptor's own cost), and wall µs of
   real loopback calls to two servers, with and without it. Gateway: CPU µs of the calling
   process per loopback `GetOrder` to an order-api process, through a plain channel, the
   gateway's `MeteredChannel` and the metrics interceptor it replaced, interleaved.
3. **End to end** — both services as real processes under `opentelemetry-instrument`, one
   pair per variant (listed with the table), differing only in standard `OTEL_*` variables;
   spans go over OTLP to a receiver running as a process of its own. Closed-loop `wrk`
   (2 threads, 8 connections) on `GET /orders/<id>` takes turns between the pairs, round
   after round; CPU per request is each process's CPU time during a run over the requests
   wrk completed in it. Then 12 more rounds of `default`, `traced_unsampled` and
   `unsampled_floor` alone, in adjacent windows with the order rotating: the unsampled
   request's cost and its floor end to end, medians of the per-round differences with their
   standard deviation and standard error. `unsampled_floor` is `traced_unsampled` run
   through `bench/floor_services.py`: the same services with the project's gRPC tracing
   replaced by suite 13's floor (the gateway's channel only injects the context, the
   order-api only extracts it and makes it current).
4. **Scrape** — render CPU time and size of N request series (counter + 7-bucket histogram)
   through the project's Prometheus reader (upstream's OTel reader plus exemplars, off here)
   versus `prometheus_client` rendering the same series;
   and the gateway's real `/metrics` idle and while under the load of suite 3.
5. **Memory** — RSS of each service idle, after warm-up, and after 100,000 more requests.
6. **OTLP push versus Prometheus pull** — the same 100 request series (counter + histogram)
   in two meter providers, one read by the Prometheus reader, one exported over OTLP/gRPC
   to the real collector (`make collector`; skipped without it): CPU µs of this process per
   scrape and per export, per recorded request, and amortised per request at 20 requests/s
   with scrapes every 15 s and exports every 60 s (SDK default) or 15 s (compose). The
   collector's own CPU is not counted.
7. **The gateway's HTTP server** — one order-api and three gateways in front of it, the
   same app, telemetry off: served by waitress as the gateway runs (the thread idle the
   shortest takes the next request), by waitress with its own dispatcher (the thread idle
   the longest, `bench/fifo_gateway.py`), and by cheroot (its server before waitress,
   `bench/cheroot_gateway.py`). Closed-loop `wrk` on `GET /orders/<id>` with 16 and with 256
   connections, taking turns between the three.
8. **Scaling out** — the order store on SQLite (as deployed: WAL, synchronous=FULL) and on
   PostgreSQL (fsync on, a local server), 8 threads sharing one store in process; then 1
   against 2 replicas of each service end to end on one PostgreSQL database, one `wrk` per
   gateway sharing the same connections (on 2 cores the replicas share the cores: what a
   second replica costs or buys here, not on a second host).
9. **Exemplars and access lines** — CPU µs per gateway request (as suite 1, with tracing)
   with exemplars off, with the trace-based exemplar filter, and with JSON access lines
   written to /dev/null; and render time of N series with one exemplar each in OpenMetrics,
   against the same series without exemplars, and in the classic text format.
10. **Worker processes** — both services under the launcher with
   `GATEWAY_PROCESSES` = `ORDER_API_PROCESSES` = 1 and = 2, telemetry off, lean and default,
   six pairs; closed-loop `wrk` (16 connections) on `GET /orders/<id>` takes turns between
   them; CPU per request counts the supervisor and every worker. Then the scrape time and
   size of each service's `/metrics` at 1 and at 4 processes (the merged endpoint).
11. **Native histograms: accuracy and cost** — both services pushing OTLP/HTTP into the
   tested Prometheus with its OTLP receiver, the semantic-convention durations as
   exponential histograms (`otel-stack up --otlp-prometheus`); injected latency spreads the
   RPC methods (`latency:ListOrders=5ms`, `latency:CreateOrder=20ms`, GetOrder as is) under
   the realistic mix. Per method, p50/p90/p99 by `histogram_quantile` over the whole run from
   the native `rpc_server_call_duration_seconds` and from the classic
   `grpc_request_duration_seconds` buckets of the same run, against the exact nearest-rank
   quantiles of every RPC's `duration_ms` in the order-api's access lines (the values the
   histograms recorded). Cost, interleaved in process: CPU µs to record one RPC with an
   exponential versus an explicit-bucket reader, and per export of this run's durations
   (replayed) to the same Prometheus, CPU µs and bytes of the OTLP request.
12. **TLS on the gateway → order-api hop** — three order-apis (telemetry off) on one
   database: plaintext, TLS and mTLS; GetOrder calls through a channel kept open and through
   a new channel per call (a handshake each); CPU per call of this process (the client's
   side) and of the order-api that answered, as ratios to plaintext from the same rounds.
13. **What tracing costs per request, in process** — one gateway `GET /orders/<id>` (the
   instrumented app and the gateway's instrumented gRPC client over a channel that answers
   at once) and one order-api `GetOrder` (through the server's interceptors with the
   gateway's `traceparent`), built by the services' own code, in five profiles: default (no
   traces), traces exported with the `always_off` sampler (a request a sampler drops),
   `parentbased_traceidratio` 0.1, every trace, and `always_off` with every call through
   upstream's gRPC interceptors (as before the short path of `otel/grpc_tracing.py`); and
   two gateway variants for the floor an unsampled request has with upstream as it is: the
   default with upstream's Flask instrumentation given the SDK's `always_off` tracer, and
   that plus the trace-based exemplar filter, the access line's ids and upstream's
   `propagate.inject` into the call's metadata, with none of the project's tracing code;
   and the order-api's floor: upstream's `propagate.extract` of the caller's context made
   current around the handler, behind the services' metrics interceptor.
   Spans go through a batch processor into a discarding exporter, flushed in each round's
   window. CPU µs per call interleaved, in 3 fresh processes one after another (a figure
   moves more between processes than between rounds of one): medians over the processes,
   with their range; then each once more under cProfile (thread CPU time), whose functions
   by own time say where the µs go (profiled times are inflated by the profiler; read them
   as shares).
14. **What exporting a recorded span costs** — spans recorded by the services' own code
   (suite 13's every-trace profile: a gateway request's Flask server and gRPC client spans,
   an order-api RPC's server span), 512 of each service, exported to the OTLP receiver
   running as a process of its own: protobuf encoding alone; OTLP/gRPC (the SDK's default)
   with and without gzip and in batches of 64; OTLP/HTTP with and without gzip. CPU µs of
   this process per span, every thread counted, variants interleaved round by round.
"""
