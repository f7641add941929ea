"""The spec local Prometheus and Alertmanager share (otel_stack/harness/prometheus_family.py)."""

from __future__ import annotations

from pathlib import Path

from otel_stack.harness import local_alertmanager, local_prometheus


def test_alertmanager_listens_on_loopback_alone_with_its_state_in_the_data_dir(
    tmp_path: Path,
) -> None:
    spec = local_alertmanager.spec("am", tmp_path, port=9093, config_path=tmp_path / "am.yml")
    assert spec.command == [
        "am",
        f"--config.file={tmp_path / 'am.yml'}",
        f"--storage.path={tmp_path / 'alertmanager'}",
        "--web.listen-address=127.0.0.1:9093",
        "--cluster.listen-address=",
    ]
    assert spec.log_path == tmp_path / "alertmanager.log"
    assert spec.cwd == tmp_path
    assert spec.ready_description == "GET http://127.0.0.1:9093/-/ready answering 200"


def test_prometheus_adds_its_feature_flags_and_the_otlp_receiver_on_request(
    tmp_path: Path,
) -> None:
    plain = local_prometheus.spec("p", tmp_path, port=9090, config_path=tmp_path / "p.yml")
    otlp = local_prometheus.spec(
        "p", tmp_path, port=9090, config_path=tmp_path / "p.yml", otlp_receiver=True
    )
    assert plain.command[:4] == [
        "p",
        f"--config.file={tmp_path / 'p.yml'}",
        f"--storage.tsdb.path={tmp_path / 'prometheus'}",
        "--web.listen-address=127.0.0.1:9090",
    ]
    assert plain.command[4:] == list(local_prometheus.FEATURE_FLAGS)
    assert otlp.command[len(plain.command) :] == ["--web.enable-otlp-receiver"]
    assert plain.log_path == tmp_path / "prometheus.log"
    assert plain.ready_description == "GET http://127.0.0.1:9090/-/ready answering 200"
