"""A fixed, known sequence of gateway requests and the exact counts it must produce.

Test-only: the contract and Prometheus end-to-end tests compare these counts
with what the services expose. Realistic random traffic is `otel_stack.harness.mix`.
"""

from __future__ import annotations

from otel_stack.harness.http_call import call, create_order
from otel_stack.harness.mix import EXAMPLE_ORDER
from otel_stack.harness.running import Stack
from otel_stack.harness.scrape import scrape

# (method, route, status_code) -> requests the mix sends, when every order-api call succeeds.
GATEWAY_COUNTS: dict[tuple[str, ...], int] = {
    ("POST", "/orders", "201"): 3,
    ("POST", "/orders", "400"): 1,
    ("GET", "/orders/<order_id>", "200"): 2,
    ("GET", "/orders/<order_id>", "404"): 1,
    ("GET", "/orders", "200"): 1,
    ("GET", "unmatched", "404"): 2,
    ("_OTHER", "unmatched", "405"): 1,
}
# (method, status) -> RPCs the order-api serves for the mix.
ORDER_API_COUNTS: dict[tuple[str, ...], int] = {
    ("CreateOrder", "OK"): 3,
    ("GetOrder", "OK"): 2,
    ("GetOrder", "NOT_FOUND"): 1,
    ("ListOrders", "OK"): 1,
}


def send_known_mix(stack: Stack, *, list_status: int = 200, scrapes: bool = True) -> None:
    """Send the mix of GATEWAY_COUNTS (plus three scrapes of /metrics, which are not counted).

    `scrapes=False` leaves /metrics alone (a gateway that only pushes has none).
    """
    url = stack.gateway_url
    order_id = [create_order(url, EXAMPLE_ORDER) for _ in range(3)][-1]
    for _ in range(2):
        assert call("GET", f"{url}/orders/{order_id}").status == 200
    assert call("GET", f"{url}/orders/does-not-exist").status == 404
    assert call("GET", f"{url}/orders?customer_id=c-1").status == list_status
    assert call("POST", f"{url}/orders", {"customer_id": "c-1", "items": []}).status == 400
    assert call("GET", f"{url}/no/such/path").status == 404
    assert call("GET", f"{url}/another/path").status == 404
    assert call("BREW", f"{url}/orders").status == 405
    for _ in range(3 if scrapes else 0):
        scrape(stack.gateway_url + "/metrics")
