"""Tests for otel_stack/harness/local_collector.py: the cache key, ports, the build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otel_stack.harness import local_collector
from otel_stack.harness.local_collector import DEFAULT_PORTS, CollectorBuildError
from tests.support import REPO
from tests.support.tools import require_tool


def _manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "builder-config.yaml"
    path.write_text(text)
    return path


def test_the_cache_key_follows_the_manifests_content(tmp_path: Path) -> None:
    first = local_collector.cache_key(_manifest(tmp_path, "dist: {name: a}\n"))
    assert local_collector.cache_key(_manifest(tmp_path, "dist: {name: a}\n")) == first
    assert local_collector.cache_key(_manifest(tmp_path, "dist: {name: b}\n")) != first


def test_the_binary_lives_in_the_tool_cache_under_the_key() -> None:
    path = local_collector.binary_path(environ={"OTEL_STACK_CACHE": "/tmp/c"})
    assert path == Path("/tmp/c/otelcol") / local_collector.cache_key() / "otelcol-stack"


def test_without_go_and_without_a_binary_the_build_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_collector, "find_go", lambda: None)
    with pytest.raises(CollectorBuildError, match=r"^Go is needed .*go\.dev/dl/$"):
        local_collector.build(environ={"OTEL_STACK_CACHE": str(tmp_path)})


def test_ports_default_to_the_configs_defaults_and_follow_otelcol_variables() -> None:
    assert local_collector.ports_from_environ({}) == DEFAULT_PORTS
    ports = local_collector.ports_from_environ(
        {"OTELCOL_OTLP_GRPC_ENDPOINT": "127.0.0.1:5317", "OTELCOL_TELEMETRY_PORT": "9888"}
    )
    assert (ports.otlp_grpc, ports.telemetry, ports.prometheus) == (5317, 9888, 8889)


def test_the_config_reads_every_port_variable() -> None:
    text = local_collector.CONFIG.read_text(encoding="utf-8")
    for name in local_collector.PORT_VARIABLES.values():
        assert f"${{env:{name}:-" in text, name


def test_make_collectors_entry_point_prints_the_binary_path_last() -> None:
    binary = Path(require_tool("collector"))
    result = subprocess.run(
        [sys.executable, "-m", "otel_stack.harness.local_collector"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(binary)
