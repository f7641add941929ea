"""Config.from_env: defaults, parsed values, and one clear error per bad variable."""

from __future__ import annotations

import grpc
import pytest

from services.envconfig import ConfigError
from services.order_api.config import Config, ConnectionAge
from services.order_api.faults import FaultPlan, MethodFaults


def test_empty_environment_gives_the_defaults() -> None:
    config = Config.from_env({})

    assert config == Config(
        listen=("0.0.0.0", 50051),
        db_path="var/orders.db",
        max_workers=16,
        grace_seconds=10.0,
        faults=FaultPlan(),
    )


def test_empty_values_mean_the_defaults() -> None:
    environ = dict.fromkeys(
        (
            "ORDER_API_LISTEN",
            "ORDER_API_DB",
            "ORDER_API_WORKERS",
            "ORDER_API_GRACE_SECONDS",
            "ORDER_API_FAULTS",
        ),
        "",
    )

    assert Config.from_env(environ) == Config()


def test_every_variable_is_read() -> None:
    config = Config.from_env(
        {
            "ORDER_API_LISTEN": "127.0.0.1:0",
            "ORDER_API_DB": "/data/orders.db",
            "ORDER_API_WORKERS": "4",
            "ORDER_API_GRACE_SECONDS": "2.5",
            "ORDER_API_FAULTS": "latency:GetOrder=300ms,error:CreateOrder=0.05:UNAVAILABLE",
            "ORDER_API_PROCESSES": "1",
        }
    )

    assert config == Config(
        listen=("127.0.0.1", 0),
        db_path="/data/orders.db",
        max_workers=4,
        grace_seconds=2.5,
        faults=FaultPlan(
            {
                "GetOrder": MethodFaults(latency_seconds=0.3),
                "CreateOrder": MethodFaults(
                    error_ratio=0.05, error_code=grpc.StatusCode.UNAVAILABLE
                ),
            }
        ),
        processes=1,
    )


def test_connection_age_defaults_to_30_seconds_with_10_of_grace() -> None:
    assert Config.from_env({}).connection_age == ConnectionAge(seconds=30.0, grace_seconds=10.0)


def test_connection_age_and_grace_are_read_in_seconds() -> None:
    config = Config.from_env(
        {"ORDER_API_MAX_CONNECTION_AGE": "2", "ORDER_API_MAX_CONNECTION_AGE_GRACE": "0.5"}
    )

    assert config.connection_age == ConnectionAge(seconds=2.0, grace_seconds=0.5)


def test_ipv6_listen_address_is_accepted() -> None:
    assert Config.from_env({"ORDER_API_LISTEN": "[::]:50051"}).listen == ("::", 50051)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ORDER_API_LISTEN", "nonsense"),
        ("ORDER_API_LISTEN", ":50051"),
        ("ORDER_API_LISTEN", "localhost:"),
        ("ORDER_API_LISTEN", "localhost:http"),
        ("ORDER_API_LISTEN", "localhost:65536"),
        ("ORDER_API_WORKERS", "0"),
        ("ORDER_API_WORKERS", "257"),
        ("ORDER_API_WORKERS", "-1"),
        ("ORDER_API_WORKERS", "four"),
        ("ORDER_API_WORKERS", "1.5"),
        ("ORDER_API_GRACE_SECONDS", "0"),
        ("ORDER_API_GRACE_SECONDS", "-1"),
        ("ORDER_API_GRACE_SECONDS", "3601"),
        ("ORDER_API_GRACE_SECONDS", "soon"),
        ("ORDER_API_GRACE_SECONDS", "nan"),
        ("ORDER_API_GRACE_SECONDS", "inf"),
        ("ORDER_API_MAX_CONNECTION_AGE", "0"),
        ("ORDER_API_MAX_CONNECTION_AGE", "30s"),
        ("ORDER_API_MAX_CONNECTION_AGE", "86401"),
        ("ORDER_API_MAX_CONNECTION_AGE_GRACE", "-1"),
        ("ORDER_API_MAX_CONNECTION_AGE_GRACE", "never"),
        ("ORDER_API_FAULTS", "latency:GetOrder"),
        ("ORDER_API_FAULTS", "latency:GetOrder=300ms,error:Nope=0.1"),
        ("ORDER_API_PROCESSES", "0"),
        ("ORDER_API_PROCESSES", "abc"),
        ("ORDER_API_PROCESSES", "33"),
    ],
)
def test_bad_variable_raises_config_error_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({name: value})

    message = str(raised.value)
    assert message.startswith(f"{name}")
    assert "\n" not in message


def test_pool_size_and_connect_timeout_are_read() -> None:
    config = Config.from_env({"ORDER_API_DB_POOL_SIZE": "4", "ORDER_API_DB_CONNECT_TIMEOUT": "2.5"})

    assert config.pool.max_size == 4
    assert config.pool.connect_timeout_seconds == 2.5
    assert config.pool.acquire_timeout_seconds == 2.5


@pytest.mark.parametrize(
    ("name", "value"),
    [("ORDER_API_DB_POOL_SIZE", "0"), ("ORDER_API_DB_CONNECT_TIMEOUT", "-1")],
)
def test_bad_pool_setting_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"ORDER_API_PROCESSES": "2", "ORDER_API_LISTEN": "127.0.0.1:0"}, "ORDER_API_LISTEN"),
        ({"ORDER_API_PROCESSES": "2", "ORDER_API_DB": ":memory:"}, "ORDER_API_DB"),
    ],
)
def test_several_processes_refuse_what_each_would_have_alone(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env(environ)

    assert str(raised.value).startswith(f"{named}=")


def test_processes_are_read_with_a_named_port_and_a_shared_database() -> None:
    config = Config.from_env({"ORDER_API_PROCESSES": "4", "ORDER_API_DB": "/data/orders.db"})

    assert (config.processes, config.listen, config.db_path) == (
        4,
        ("0.0.0.0", 50051),
        "/data/orders.db",
    )
