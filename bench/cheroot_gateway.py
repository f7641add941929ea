"""The gateway app served by cheroot, the way the gateway ran before waitress: `bench.servers` only.

`python -m bench.cheroot_gateway`, configured like `python -m services.web_gateway`
(GATEWAY_LISTEN, ORDER_API_TARGET, GATEWAY_THREADS, OTEL_*): the same app, client
and telemetry, so the two servers are compared on equal terms. SIGTERM stops it.
"""

from __future__ import annotations

import signal
import threading

from cheroot import wsgi

from otel.sdk import build_and_install
from services.web_gateway.__main__ import (
    DEFAULT_SERVICE_NAME,
    SERVER_MAX_BODY_BYTES,
    SERVER_MAX_HEADER_BYTES,
    build,
)
from services.web_gateway.config import Config

REQUEST_QUEUE_SIZE = 128


def main() -> int:
    """Serve until SIGTERM; the cheroot settings the gateway used to have."""
    config = Config.from_env()
    telemetry = build_and_install(
        DEFAULT_SERVICE_NAME, config.telemetry, access_log_ratio=config.access_log
    )
    app, client = build(config, telemetry)
    server = wsgi.Server(
        config.listen,
        app,
        numthreads=config.threads,
        max=config.threads,
        request_queue_size=REQUEST_QUEUE_SIZE,
    )
    server.max_request_header_size = SERVER_MAX_HEADER_BYTES
    server.max_request_body_size = SERVER_MAX_BODY_BYTES
    server.prepare()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    serving = threading.Thread(target=server.serve)
    serving.start()
    stopping.wait()
    server.stop()
    serving.join()
    client.close()
    telemetry.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
