"""docker-compose.yml alerting: the tested releases, Alertmanager wired to Prometheus and sink."""

from __future__ import annotations

from otel_stack.cli.parsers import build_parser
from otel_stack.deploy import go_tools, prometheus_config
from tests.deploy.stack_files import (
    ALERTMANAGER_CONFIG,
    bind_mounts,
    compose,
    compose_service,
    load_yaml,
    split_host_port,
)


def test_prometheus_and_alertmanager_images_are_the_tested_releases() -> None:
    assert compose_service("prometheus")["image"] == go_tools.PROMETHEUS.image_reference
    assert compose_service("alertmanager")["image"] == go_tools.ALERTMANAGER.image_reference


def test_prometheus_sends_alerts_where_alertmanager_listens() -> None:
    (target,) = prometheus_config.COMPOSE_ALERTMANAGERS
    host, port = split_host_port(target)
    assert host in compose()["services"]
    published = {str(item).rsplit(":", 1)[-1] for item in compose_service(host)["ports"]}
    assert str(port) in published


def test_alertmanager_mounts_the_committed_config_it_is_told_to_read() -> None:
    service = compose_service("alertmanager")
    mounts = bind_mounts("alertmanager")
    config_flag = next(arg for arg in service["command"] if arg.startswith("--config.file="))
    container_path = config_flag.removeprefix("--config.file=")
    assert mounts[container_path] == "./" + str(
        ALERTMANAGER_CONFIG.relative_to(ALERTMANAGER_CONFIG.parents[1])
    )
    assert "--cluster.listen-address=" in service["command"]


def test_the_default_webhooks_reach_the_alert_sink_service() -> None:
    sink = compose_service("alert-sink")
    args = build_parser().parse_args(sink["command"])
    host, port = args.listen
    assert (host, port) == ("0.0.0.0", 9099)
    assert str(port) in [str(item) for item in sink["expose"]]
    assert sink["entrypoint"] == ["python", "-m", "otel_stack"]
    assert sink["build"] == "."
    for receiver in load_yaml(ALERTMANAGER_CONFIG)["receivers"]:
        name = receiver["name"]
        url_file = ALERTMANAGER_CONFIG.parent / "local-sink" / f"{name}-webhook-url"
        assert url_file.read_text(encoding="utf-8").strip() == f"http://alert-sink:9099/{name}"
