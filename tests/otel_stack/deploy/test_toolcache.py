"""Tests for otel_stack/deploy/toolcache.py."""

from __future__ import annotations

from pathlib import Path

from otel_stack.deploy.toolcache import cache_root


def test_explicit_variable_wins() -> None:
    environ = {"OTEL_STACK_CACHE": "/tmp/c", "XDG_CACHE_HOME": "/tmp/x"}
    assert cache_root(environ) == Path("/tmp/c")


def test_xdg_cache_home_is_used_when_set() -> None:
    assert cache_root({"XDG_CACHE_HOME": "/tmp/x"}) == Path("/tmp/x/otel-stack")


def test_default_is_under_the_home_cache() -> None:
    assert cache_root({}) == Path.home() / ".cache" / "otel-stack"
