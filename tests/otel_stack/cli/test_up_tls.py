"""`otel-stack up --tls`: a throwaway CA under the data dir, and every hop of the run over TLS."""

from __future__ import annotations

import re
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from otel_stack.cli import up_plan
from otel_stack.deploy import prometheus_config
from otel_stack.harness import stack_tls
from otel_stack.harness.local_collector import CollectorPorts
from tests.otel_stack.cli.stack_run import (
    UpPorts,
    processes_using,
    prometheus_expected,
    run_cli,
    up_command,
)

ROW = re.compile(r"^(?P<name>GET /orders/<order_id>|GetOrder)\s+(?P<rate>\d+\.\d)\s", re.M)


@dataclass(frozen=True)
class TlsRun:
    result: subprocess.CompletedProcess[str]
    data_dir: Path


@pytest.fixture(scope="module")
def tls_run(tmp_path_factory: pytest.TempPathFactory) -> TlsRun:
    data_dir = tmp_path_factory.mktemp("up-tls") / "stack"
    command = up_command(
        UpPorts.free(), data_dir, "--tls", "--no-alertmanager", "--duration", "8", "--refresh", "1"
    )
    return TlsRun(run_cli(command, timeout=90), data_dir)


def test_up_tls_exits_zero_and_leaves_nothing_running(tls_run: TlsRun) -> None:
    assert tls_run.result.returncode == 0, tls_run.result.stdout + tls_run.result.stderr
    assert processes_using(tls_run.data_dir) == []


def test_live_view_reads_both_services_over_their_tls_metrics(tls_run: TlsRun) -> None:
    stdout = tls_run.result.stdout
    rates = {match["name"]: float(match["rate"]) for match in ROW.finditer(stdout)}
    assert rates.get("GET /orders/<order_id>", 0) > 0
    assert rates.get("GetOrder", 0) > 0  # read from the order-api's https /metrics
    assert re.search(r"order-api metrics: https://127\.0\.0\.1:\d+/metrics", stdout)


def test_services_say_they_talk_mtls(tls_run: TlsRun) -> None:
    order_api = (tls_run.data_dir / "order-api.log").read_text()
    gateway = (tls_run.data_dir / "web-gateway.log").read_text()
    assert "serving gRPC over mTLS" in order_api
    assert re.search(r"metrics on https://", order_api)
    assert "over mTLS" in gateway
    assert "Traceback" not in order_api + gateway


def test_certificates_are_readable_by_their_owner_only(tls_run: TlsRun) -> None:
    directory = tls_run.data_dir / "tls"
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in directory.rglob("*")}
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {mode for path, mode in modes.items() if path.is_dir()} == {0o700}
    assert {mode for path, mode in modes.items() if path.is_file()} == {0o600}
    assert {path.name for path in modes if path.is_file()} == {"tls.crt", "tls.key", "ca.crt"}


def test_prometheus_scrapes_the_order_api_over_tls_with_its_certificate(tls_run: TlsRun) -> None:
    if not prometheus_expected():
        pytest.skip("no Prometheus here: `up` ran without it")
    config = yaml.safe_load((tls_run.data_dir / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "order-api"]
    assert job["scheme"] == "https"
    assert Path(job["tls_config"]["cert_file"]).parent == tls_run.data_dir / "tls" / "prometheus"


def test_with_otlp_each_service_pushes_over_https_with_its_own_certificate(
    tmp_path: Path,
) -> None:
    tls = stack_tls.create(tmp_path / "tls")
    options = up_plan.UpOptions(otlp=True, tls=True, collector_ports=CollectorPorts.free())

    order_api, gateway = up_plan.service_specs(options, tmp_path, tls)

    for spec, identity in ((order_api, tls.order_api), (gateway, tls.web_gateway)):
        assert spec.env["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("https://127.0.0.1:")
        assert spec.env["OTEL_EXPORTER_OTLP_CERTIFICATE"] == str(identity.ca)
        assert spec.env["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"] == str(identity.cert)
    assert order_api.env["ORDER_API_TLS_CLIENT_CA"] == str(tls.ca)
    assert gateway.env["ORDER_API_CLIENT_CERT"] == str(tls.web_gateway.cert)
    assert tls.collector_environ()["OTELCOL_OTLP_TLS_CLIENT_CA_FILE"] == str(tls.collector.ca)


def test_rendered_config_scrapes_a_tls_job_over_https() -> None:
    text = prometheus_config.render(
        {"order-api": ["127.0.0.1:8000"], "web-gateway": ["127.0.0.1:8080"]},
        tls_configs={
            "order-api": prometheus_config.tls_config(Path("/ca"), Path("/crt"), Path("/key"))
        },
    )
    jobs = {job["job_name"]: job for job in yaml.safe_load(text)["scrape_configs"]}
    assert jobs["order-api"]["scheme"] == "https"
    assert jobs["order-api"]["tls_config"] == {
        "ca_file": "/ca",
        "cert_file": "/crt",
        "key_file": "/key",
    }
    assert "scheme" not in jobs["web-gateway"]
