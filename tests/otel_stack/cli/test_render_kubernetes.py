"""`otel-stack render-kubernetes`: one YAML stream per overlay, one-line errors, generated files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from otel_stack.__main__ import main
from otel_stack.deploy import kubernetes
from otel_stack.deploy.kubernetes import KubernetesRenderError

REPO = kubernetes.REPO


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otel_stack", "render-kubernetes", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


@pytest.mark.parametrize("overlay", kubernetes.OVERLAYS)
def test_prints_the_overlays_manifests_as_one_yaml_stream(overlay: str) -> None:
    result = _cli("--overlay", overlay)
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    assert documents == kubernetes.render(overlay)
    assert documents[0]["kind"] == "Namespace"


def test_an_unknown_overlay_is_a_usage_error_without_a_traceback() -> None:
    result = _cli("--overlay", "staging")
    assert result.returncode == 2
    assert "invalid choice: 'staging'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_render_failure_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(overlay: str) -> None:
        raise KubernetesRenderError(f"{overlay}: collector-config.yaml: bad YAML")

    monkeypatch.setattr(kubernetes, "render", broken)
    assert main(["render-kubernetes", "--overlay", "dev"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "otel-stack render-kubernetes: error: dev: collector-config.yaml: bad YAML"
    ]


def test_render_refuses_a_tree_without_the_overlay(tmp_path: Path) -> None:
    with pytest.raises(KubernetesRenderError, match="no overlay 'dev'"):
        kubernetes.render("dev", tmp_path)


def test_write_generated_writes_what_render_uses(tmp_path: Path) -> None:
    for folder in ("prometheus", "grafana", "config"):
        (tmp_path / folder).symlink_to(REPO / folder)
    for name in ("collector-config.yaml", "docker-compose.yml"):
        (tmp_path / name).symlink_to(REPO / name)
    written = kubernetes.write_generated(tmp_path)
    assert sorted(path.name for path in written) == [
        "grafana-dashboards.yaml",
        "opentelemetry-collector.yaml",
        "otel-sdk-config.yaml",
        "prometheus-rules.yaml",
    ]
    for path in written:
        committed = REPO / path.relative_to(tmp_path)
        assert path.read_text() == committed.read_text()


def test_a_compose_memory_limit_becomes_a_kubernetes_quantity() -> None:
    collector = kubernetes.opentelemetry_collector()
    assert collector["spec"]["resources"]["limits"]["memory"] == "512Mi"
