"""Tests for otel_stack/deploy/go_tools.py: where releases are cached, found and built."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from otel_stack.__main__ import main
from otel_stack.deploy import go_tools
from otel_stack.deploy.go_tools import (
    ALERTMANAGER,
    ETCD,
    KUBE_APISERVER,
    PROMETHEUS,
    BuildError,
)
from tests.support.tools import require_tool


def test_each_release_has_its_own_folder_in_the_tool_cache() -> None:
    environ = {"OTEL_STACK_CACHE": "/tmp/cache"}
    assert go_tools.binary_path(PROMETHEUS, "promtool", environ) == Path(
        "/tmp/cache/prometheus-3.15.1/promtool"
    )
    assert go_tools.install_dir(ALERTMANAGER, environ) == Path("/tmp/cache/alertmanager-0.34.2")


def test_an_unknown_command_is_refused() -> None:
    with pytest.raises(ValueError, match="no command"):
        go_tools.binary_path(PROMETHEUS, "amtool")


def test_a_release_not_built_is_not_found(tmp_path: Path) -> None:
    assert go_tools.find(PROMETHEUS, "prometheus", {"OTEL_STACK_CACHE": str(tmp_path)}) is None


def test_a_built_executable_is_found(tmp_path: Path) -> None:
    environ = {"OTEL_STACK_CACHE": str(tmp_path)}
    path = go_tools.binary_path(ALERTMANAGER, "amtool", environ)
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\n")
    assert go_tools.find(ALERTMANAGER, "amtool", environ) is None  # not executable
    path.chmod(0o755)
    assert go_tools.find(ALERTMANAGER, "amtool", environ) == path


def test_a_built_release_is_not_rebuilt_even_without_go(tmp_path: Path) -> None:
    environ = {"OTEL_STACK_CACHE": str(tmp_path), "PATH": ""}
    for command in ALERTMANAGER.commands:
        path = go_tools.binary_path(ALERTMANAGER, command, environ)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    assert go_tools.build(ALERTMANAGER, environ) == go_tools.install_dir(ALERTMANAGER, environ)


def test_building_without_go_is_one_clear_error(tmp_path: Path) -> None:
    environ = {"OTEL_STACK_CACHE": str(tmp_path), "PATH": str(tmp_path)}
    with pytest.raises(BuildError, match="go is not on PATH"):
        go_tools.build(PROMETHEUS, environ)
    assert list(tmp_path.iterdir()) == []


def test_the_main_module_pins_every_local_replace_to_the_release() -> None:
    upstream = {
        "Require": [
            {"Path": "k8s.io/api", "Version": "v0.0.0"},
            {"Path": "github.com/spf13/cobra", "Version": "v1.8.1"},
            # Required at a real version: that version is what the local folder holds.
            {"Path": "go.etcd.io/etcd/client/v2", "Version": "v2.305.24"},
        ],
        "Replace": [
            {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
            # Not required: a guard against a dependency, never to be pinned.
            {"Old": {"Path": "k8s.io/forbidden"}, "New": {"Path": "./FORBIDDEN_DEPENDENCY"}},
            {"Old": {"Path": "github.com/spf13/cobra"}, "New": {"Path": "github.com/x/cobra"}},
            {"Old": {"Path": "go.etcd.io/etcd/client/v2"}, "New": {"Path": "../client/v2"}},
        ],
    }
    text = go_tools.main_module_text(KUBE_APISERVER, upstream)
    assert "require k8s.io/kubernetes v1.33.13\n" in text
    assert "replace k8s.io/api => k8s.io/api v0.33.13\n" in text
    assert "forbidden" not in text
    assert "cobra" not in text
    assert "etcd" not in text
    assert "tool k8s.io/kubernetes/cmd/kube-apiserver\n" in text


@pytest.mark.prometheus
@pytest.mark.parametrize(
    ("release", "command"),
    [(PROMETHEUS, "prometheus"), (PROMETHEUS, "promtool"), (ALERTMANAGER, "amtool")],
    ids=["prometheus", "promtool", "amtool"],
)
def test_the_built_binaries_say_their_release(release: go_tools.GoRelease, command: str) -> None:
    binary = require_tool("prometheus" if release is PROMETHEUS else "alertmanager", command)
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"version {release.version}" in result.stdout + result.stderr


@pytest.mark.kube_apiserver
@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("kube-apiserver", f"Kubernetes v{KUBE_APISERVER.version}"),
        ("etcd", f"etcd Version: {ETCD.version}"),
    ],
)
def test_the_built_kube_apiserver_and_etcd_say_their_release(command: str, says: str) -> None:
    binary = require_tool("kube_apiserver", command)
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert says in result.stdout


def _fake_release(release: go_tools.GoRelease, cache: Path) -> None:
    for command in release.commands:
        path = go_tools.binary_path(release, command, {"OTEL_STACK_CACHE": str(cache)})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)


def test_build_tools_prints_the_path_of_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_STACK_CACHE", str(tmp_path))
    _fake_release(ALERTMANAGER, tmp_path)
    assert main(["build-tools", "alertmanager"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path}/alertmanager-0.34.2/alertmanager" in out
    assert f"{tmp_path}/alertmanager-0.34.2/amtool" in out


def test_build_tools_without_go_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_STACK_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["build-tools", "prometheus"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "otel-stack build-tools: cannot build prometheus: go is not on PATH (https://go.dev/dl/)"
    ]


def test_build_tools_without_a_name_builds_every_default_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_STACK_CACHE", str(tmp_path))
    _fake_release(ALERTMANAGER, tmp_path)
    _fake_release(PROMETHEUS, tmp_path)
    assert main(["build-tools"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path}/alertmanager-0.34.2/amtool" in out
    assert f"{tmp_path}/prometheus-3.15.1/promtool" in out
    assert "kube-apiserver" not in out  # built only when named: slow and needed by one test


def test_build_tools_refuses_an_unknown_name_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["build-tools", "grafana"])
    assert exit_info.value.code == 2
    assert (
        "expected alertmanager or etcd or kube-apiserver or prometheus, got 'grafana'"
        in capsys.readouterr().err
    )
