"""Fixtures of the reliability tests: both services as real processes, and HTTP clients of them.

Modules that need a differently configured stack (faults, timeouts, OTLP) start
their own with `otel_stack.harness.running.running_stack`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_stack.harness.running import Stack, running_stack
from tests.support.http_client import HttpClient


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Both services with default settings, shared by the tests of one module."""
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def gateway(stack: Stack) -> Iterator[HttpClient]:
    """A keep-alive HTTP client of the module's gateway."""
    with HttpClient(stack.gateway_url) as client:
        yield client
