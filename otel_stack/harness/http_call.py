"""One HTTP request to a service, answered whole: the status, content type and body.

4xx and 5xx answers are answers here, not exceptions: callers compare the
status with what they expect. Connection failures raise OSError.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_stack.harness.mix import created_order_id

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Answer:
    """An HTTP response, read whole."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def call(
    method: str,
    url: str,
    document: object = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Answer:
    """Send one request (with `document` as a JSON body when given) and read the answer."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// URL, got {url!r}")
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=data, method=method, headers=dict(headers or {})
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(response.status, response.headers["Content-Type"] or "", response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers["Content-Type"] or "", error.read())


def create_order(gateway_url: str, document: object) -> str:
    """POST /orders to the gateway; return the new order's id (AssertionError unless 201)."""
    answer = call("POST", f"{gateway_url}/orders", document)
    order_id = created_order_id(answer.body) if answer.status == 201 else None
    if order_id is None:
        raise AssertionError(f"POST /orders answered {answer.status}: {answer.body[:200]!r}")
    return order_id
