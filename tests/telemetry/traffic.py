"""A known mix of gateway requests, sent over real HTTP, and the counts it must produce."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.telemetry.scrape import scrape
from tests.telemetry.services import Stack

ORDER = {"customer_id": "c-1", "items": [{"sku": "sku-1", "quantity": 2, "unit_price_cents": 250}]}

# (method, route, status_code) -> requests the mix sends, when every order-api call succeeds.
GATEWAY_COUNTS = {
    ("POST", "/orders", "201"): 3,
    ("POST", "/orders", "400"): 1,
    ("GET", "/orders/<order_id>", "200"): 2,
    ("GET", "/orders/<order_id>", "404"): 1,
    ("GET", "/orders", "200"): 1,
    ("GET", "unmatched", "404"): 2,
    ("_OTHER", "unmatched", "405"): 1,
}
# (method, status) -> RPCs the order-api serves for the mix.
ORDER_API_COUNTS = {
    ("CreateOrder", "OK"): 3,
    ("GetOrder", "OK"): 2,
    ("GetOrder", "NOT_FOUND"): 1,
    ("ListOrders", "OK"): 1,
}


def call(stack: Stack, method: str, path: str, body: object | None = None) -> tuple[int, bytes]:
    """Send one request to the gateway; return the status and the body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        stack.gateway_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def send_known_mix(stack: Stack, *, list_status: int = 200) -> None:
    """Send the mix of GATEWAY_COUNTS (plus three scrapes of /metrics, which are not counted)."""
    created = [call(stack, "POST", "/orders", ORDER) for _ in range(3)]
    assert [status for status, _ in created] == [201, 201, 201]
    order_id = json.loads(created[-1][1])["id"]
    for _ in range(2):
        assert call(stack, "GET", f"/orders/{order_id}")[0] == 200
    assert call(stack, "GET", "/orders/does-not-exist")[0] == 404
    assert call(stack, "GET", "/orders?customer_id=c-1")[0] == list_status
    assert call(stack, "POST", "/orders", {"customer_id": "c-1", "items": []})[0] == 400
    assert call(stack, "GET", "/no/such/path")[0] == 404
    assert call(stack, "GET", "/another/path")[0] == 404
    assert call(stack, "BREW", "/orders")[0] == 405
    for _ in range(3):
        scrape(stack.gateway_url + "/metrics")
