"""Cardinality: random paths, query strings, Host headers and methods do not grow the gateway's
metrics or its memory.

Every label value the gateway records comes from a bounded set (URL rule,
method allow-list, status code), so once each request *shape* has been seen,
10,000 requests with distinct contents add no series at all; and the gateway's
resident memory grows no more from 10,000 distinct paths than from 1,000
repetitions of one path.
"""

from __future__ import annotations

import random
import string
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from otel_stack.harness.running import GATEWAY, Stack
from otel_stack.harness.scrape import scrape
from tests.reliability.counts import sample_lines
from tests.reliability.processes import rss_bytes
from tests.support.http_client import HttpClient

DISTINCT_REQUESTS = 10_000
REPEATED_REQUESTS = 1_000
CLIENTS = 8
STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")
# Memory the gateway may gain from 10,000 distinct paths beyond what 1,000 repetitions of
# one path cost: allocator noise, nowhere near a per-path cost (a series is kilobytes).
RSS_SLACK_BYTES = 4 * 1024 * 1024

_SEGMENT_CHARACTERS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%"


@dataclass(frozen=True)
class Shape:
    """What decides a request's labels: the method and the kind of path."""

    method: str
    path_kind: str


PATH_KINDS = ("unmatched", "order-id", "bad-order-id", "healthz-query", "orders-query")


def _random_token(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _segment(rng: random.Random) -> str:
    return urllib.parse.quote(_random_token(rng, _SEGMENT_CHARACTERS, 1, 24), safe="")


def _query(rng: random.Random) -> str:
    # Parameter names GET /orders does not read: the values of those it reads decide the status.
    pairs = [
        (
            "x" + _random_token(rng, string.ascii_lowercase, 1, 8),
            _random_token(rng, string.printable, 0, 16),
        )
        for _ in range(rng.randint(1, 4))
    ]
    return urllib.parse.urlencode(pairs)


def random_path(rng: random.Random, kind: str) -> str:
    """A path of the given kind with random contents."""
    if kind == "unmatched":
        return "/r/" + "/".join(_segment(rng) for _ in range(rng.randint(1, 4)))
    if kind == "order-id":
        return "/orders/" + _random_token(rng, string.ascii_letters + string.digits + "._:-", 1, 64)
    if kind == "bad-order-id":
        return "/orders/%25" + _segment(rng)
    if kind == "healthz-query":
        return "/healthz?" + _query(rng)
    return "/orders?" + _query(rng)


def random_method(rng: random.Random) -> str:
    """A standard method, or a made-up one (recorded as _OTHER)."""
    if rng.random() < 0.5:
        return rng.choice(STANDARD_METHODS)
    return _random_token(rng, string.ascii_uppercase, 3, 10)


def _headers(rng: random.Random) -> dict[str, str]:
    # A random Host: a label taken from it (as old HTTP semconv did) would be unbounded.
    host = _random_token(rng, string.ascii_lowercase, 1, 20)
    return {"Host": f"{host}.example:{rng.randint(1, 65535)}"}


def _send_all(
    base_url: str, make: Callable[[random.Random, int], tuple[str, str]], count: int
) -> list[str]:
    """Send `count` requests from CLIENTS threads; return a description of each 5xx or failure."""
    problems: list[str] = []
    deadline = time.monotonic() + 120

    def client(index: int) -> None:
        rng = random.Random(index * 7919 + count)
        with HttpClient(base_url) as http:
            for number in range(index, count, CLIENTS):
                if time.monotonic() > deadline:
                    problems.append("out of time")
                    return
                method, path = make(rng, number)
                try:
                    reply = http.request(method, path, headers=_headers(rng))
                except OSError as error:
                    problems.append(f"{method} {path}: {error!r}")
                    continue
                if reply.status >= 500:
                    problems.append(f"{method} {path}: {reply.status}")

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    return problems


@dataclass(frozen=True)
class Growth:
    """Sample lines and gateway RSS at the boundaries of the phases."""

    lines_at_start: int
    lines_after_warm_up: int
    lines_at_end: int
    rss_after_warm_up: int
    rss_after_repeated: int
    rss_after_distinct: int
    problems: list[str]


@pytest.fixture(scope="module")
def growth(stack: Stack) -> Growth:
    """Warm up with every shape, then 1,000 repeated and 10,000 distinct random requests."""
    url = stack.gateway_url
    pid = stack.processes[GATEWAY].pid

    def lines() -> int:
        return sample_lines(scrape(url + "/metrics").text)

    lines_at_start = lines()
    shapes = [Shape(m, k) for m in (*STANDARD_METHODS, "BREW") for k in PATH_KINDS]

    def warm_up(rng: random.Random, number: int) -> tuple[str, str]:
        shape = shapes[number % len(shapes)]
        return shape.method, random_path(rng, shape.path_kind)

    def distinct(rng: random.Random, _number: int) -> tuple[str, str]:
        return random_method(rng), random_path(rng, rng.choice(PATH_KINDS))

    fixed = random_path(random.Random(1), "unmatched")
    problems = _send_all(url, warm_up, 20 * len(shapes))
    lines_after_warm_up = lines()
    rss_after_warm_up = rss_bytes(pid)
    problems += _send_all(url, lambda _rng, _n: ("GET", fixed), REPEATED_REQUESTS)
    rss_after_repeated = rss_bytes(pid)
    problems += _send_all(url, distinct, DISTINCT_REQUESTS)
    rss_after_distinct = rss_bytes(pid)
    return Growth(
        lines_at_start,
        lines_after_warm_up,
        lines(),
        rss_after_warm_up,
        rss_after_repeated,
        rss_after_distinct,
        problems,
    )


def test_random_requests_get_no_5xx(growth: Growth) -> None:
    assert growth.problems == []


def test_distinct_requests_add_no_series_once_every_shape_was_seen(growth: Growth) -> None:
    assert growth.lines_at_end == growth.lines_after_warm_up


def test_series_grow_by_a_bounded_amount_overall(growth: Growth) -> None:
    # Per shape (method label x route x status) at most a counter, two histograms and a gauge:
    # a bound that does not depend on how many requests were sent.
    per_label_set = 1 + 10 + 17 + 1
    bound = (len(STANDARD_METHODS) + 1) * len(PATH_KINDS) * per_label_set
    assert growth.lines_at_end - growth.lines_at_start <= bound


def test_rss_does_not_grow_with_distinct_paths(growth: Growth) -> None:
    repeated = growth.rss_after_repeated - growth.rss_after_warm_up
    distinct = growth.rss_after_distinct - growth.rss_after_repeated
    assert distinct <= repeated + RSS_SLACK_BYTES, (repeated, distinct)
