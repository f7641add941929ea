"""The gateway served by waitress with waitress's own dispatcher: `bench.servers` only.

`python -m bench.fifo_gateway`, configured like `python -m services.web_gateway`
(GATEWAY_LISTEN, ORDER_API_TARGET, GATEWAY_THREADS, OTEL_*): the same app,
server and settings, but each request wakes the thread idle the longest
(waitress's `ThreadedTaskDispatcher`) instead of the one idle the shortest. SIGTERM
drains and stops it.
"""

from __future__ import annotations

from waitress.task import ThreadedTaskDispatcher

from otel.sdk import build_and_install
from services.startup import stop_signal, wait_for_stop
from services.web_gateway.__main__ import DEFAULT_SERVICE_NAME, build, listen
from services.web_gateway.config import Config
from services.web_gateway.server import serve


def main() -> int:
    """Serve until SIGTERM, then drain."""
    config = Config.from_env()
    telemetry = build_and_install(
        DEFAULT_SERVICE_NAME, config.telemetry, access_log_ratio=config.access_log
    )
    app, client = build(config, telemetry)
    server = listen(config, app, dispatcher=ThreadedTaskDispatcher())
    stopping = stop_signal()
    serving = serve(server)
    wait_for_stop(stopping)
    server.drain(config.grace_seconds, on_grace_expired=client.close)
    serving.join()
    client.close()
    telemetry.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
