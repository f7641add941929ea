"""Config.from_env: defaults, parsed values, and one clear error per bad variable."""

from __future__ import annotations

import pytest

from services.envconfig import ConfigError
from services.web_gateway.config import Config

VARIABLES = (
    "GATEWAY_LISTEN",
    "ORDER_API_TARGET",
    "ORDER_API_TIMEOUT",
    "GATEWAY_THREADS",
    "GATEWAY_GRACE_SECONDS",
    "GATEWAY_MAX_CONNECTIONS",
    "GATEWAY_HEADER_TIMEOUT",
    "GATEWAY_BODY_TIMEOUT",
    "GATEWAY_KEEPALIVE_TIMEOUT",
)


def test_empty_environment_gives_the_defaults() -> None:
    assert Config.from_env({}) == Config(
        listen=("0.0.0.0", 8080),
        order_api_target="localhost:50051",
        order_api_timeout=2.0,
        threads=64,
        grace_seconds=10.0,
        max_connections=1000,
        header_timeout=10.0,
        body_timeout=30.0,
        keepalive_timeout=75.0,
    )


def test_empty_values_mean_the_defaults() -> None:
    assert Config.from_env(dict.fromkeys(VARIABLES, "")) == Config()


def test_every_variable_is_read() -> None:
    config = Config.from_env(
        {
            "GATEWAY_LISTEN": "127.0.0.1:0",
            "ORDER_API_TARGET": "order-api:50051",
            "ORDER_API_TIMEOUT": "0.5",
            "GATEWAY_THREADS": "8",
            "GATEWAY_GRACE_SECONDS": "2.5",
            "GATEWAY_MAX_CONNECTIONS": "300",
            "GATEWAY_HEADER_TIMEOUT": "5",
            "GATEWAY_BODY_TIMEOUT": "12.5",
            "GATEWAY_KEEPALIVE_TIMEOUT": "65",
            "GATEWAY_PROCESSES": "1",
            "GATEWAY_HEALTH_LISTEN": "127.0.0.1:8081",
        }
    )

    assert config == Config(
        listen=("127.0.0.1", 0),
        order_api_target="order-api:50051",
        order_api_timeout=0.5,
        threads=8,
        grace_seconds=2.5,
        max_connections=300,
        header_timeout=5.0,
        body_timeout=12.5,
        keepalive_timeout=65.0,
        processes=1,
        health_listen=("127.0.0.1", 8081),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_LISTEN", "nonsense"),
        ("GATEWAY_LISTEN", "127.0.0.1:70000"),
        ("ORDER_API_TARGET", "order-api"),
        ("ORDER_API_TARGET", "dns:///order-api"),
        ("ORDER_API_TARGET", "ipv4:127.0.0.1:1,127.0.0.1"),
        ("ORDER_API_TARGET", "ipv4:"),
        ("ORDER_API_TARGET", "unix:"),
        ("ORDER_API_TIMEOUT", "0"),
        ("ORDER_API_TIMEOUT", "61"),
        ("ORDER_API_TIMEOUT", "soon"),
        ("GATEWAY_THREADS", "0"),
        ("GATEWAY_THREADS", "many"),
        ("GATEWAY_GRACE_SECONDS", "-1"),
        ("GATEWAY_MAX_CONNECTIONS", "0"),
        ("GATEWAY_MAX_CONNECTIONS", "100001"),
        ("GATEWAY_HEADER_TIMEOUT", "0"),
        ("GATEWAY_BODY_TIMEOUT", "601"),
        ("GATEWAY_KEEPALIVE_TIMEOUT", "forever"),
        ("GATEWAY_PROCESSES", "0"),
        ("GATEWAY_PROCESSES", "abc"),
        ("GATEWAY_PROCESSES", "33"),
        ("GATEWAY_PROCESSES", "-2"),
        ("GATEWAY_HEALTH_LISTEN", "8081"),
        ("GATEWAY_HEALTH_LISTEN", "0.0.0.0:8080"),
    ],
)
def test_bad_value_raises_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({name: value})

    assert str(raised.value).startswith(f"{name}=")


@pytest.mark.parametrize(
    "target",
    [
        "order-api:50051",
        "dns:///order-api:50051",
        "dns:order-api:50051",
        "dns://10.0.0.53/order-api:50051",
        "ipv4:127.0.0.1:50051,127.0.0.1:50052",
        "ipv6:[::1]:50051,[::1]:50052",
        "unix:///run/order-api.sock",
    ],
)
def test_any_grpc_target_is_accepted(target: str) -> None:
    assert Config.from_env({"ORDER_API_TARGET": target}).order_api_target == target


def test_metrics_token_is_read_and_kept_out_of_repr() -> None:
    config = Config.from_env({"GATEWAY_METRICS_TOKEN": "a" * 20})
    assert config.metrics_token == "a" * 20
    assert "a" * 20 not in repr(config)


def test_short_metrics_token_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as error:
        Config.from_env({"GATEWAY_METRICS_TOKEN": "short-secret"})
    assert "GATEWAY_METRICS_TOKEN" in str(error.value)
    assert "short-secret" not in str(error.value)


def test_several_processes_need_a_port_of_their_own_choosing() -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"GATEWAY_PROCESSES": "2", "GATEWAY_LISTEN": "127.0.0.1:0"})

    assert str(raised.value).startswith("GATEWAY_LISTEN='127.0.0.1:0': port 0")


def test_processes_are_read_with_a_named_port() -> None:
    config = Config.from_env({"GATEWAY_PROCESSES": "32", "GATEWAY_LISTEN": "127.0.0.1:8081"})

    assert (config.processes, config.listen) == (32, ("127.0.0.1", 8081))


def test_health_listener_is_off_unless_set() -> None:
    assert Config.from_env({}).health_listen is None
    config = Config.from_env({"GATEWAY_HEALTH_LISTEN": "0.0.0.0:8081"})
    assert config.health_listen == ("0.0.0.0", 8081)


def test_health_listener_needs_a_port_of_its_own() -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"GATEWAY_LISTEN": "0.0.0.0:9000", "GATEWAY_HEALTH_LISTEN": "[::]:9000"})

    assert str(raised.value).startswith("GATEWAY_HEALTH_LISTEN='[::]:9000': the same port")


def test_health_listener_of_several_processes_needs_a_named_port() -> None:
    environ = {"GATEWAY_PROCESSES": "2", "GATEWAY_HEALTH_LISTEN": "127.0.0.1:0"}
    with pytest.raises(ConfigError) as raised:
        Config.from_env(environ)

    assert str(raised.value).startswith("GATEWAY_HEALTH_LISTEN='127.0.0.1:0': port 0")
