"""The services' shared environment parsers (services/envconfig.py)."""

from __future__ import annotations

import pytest

from services import envconfig
from services.envconfig import ConfigError


@pytest.mark.parametrize(
    ("value", "ratio"),
    [("", 1.0), ("on", 1.0), ("OFF", 0.0), ("0", 0.0), ("0.25", 0.25), ("1", 1.0)],
)
def test_access_log_reads_on_off_or_a_fraction(value: str, ratio: float) -> None:
    assert envconfig.access_log({"ACCESS_LOG": value}) == ratio


@pytest.mark.parametrize("value", ["sometimes", "1.5", "-0.1", "nan"])
def test_an_unusable_access_log_value_is_one_clear_error(value: str) -> None:
    with pytest.raises(ConfigError, match="ACCESS_LOG="):
        envconfig.access_log({"ACCESS_LOG": value})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.0.0.0:8080", ("0.0.0.0", 8080)), ("[::]:50051", ("::", 50051)), ("h:0", ("h", 0))],
)
def test_an_address_is_a_host_and_a_port_without_ipv6_brackets(
    value: str, expected: tuple[str, int]
) -> None:
    assert envconfig.address({"LISTEN": value}, "LISTEN", ("0.0.0.0", 1)) == expected


@pytest.mark.parametrize("address", [("0.0.0.0", 8080), ("::", 50051)])
def test_a_formatted_address_parses_back_to_itself(address: tuple[str, int]) -> None:
    formatted = envconfig.format_address(address)
    assert envconfig.address({"LISTEN": formatted}, "LISTEN", ("0.0.0.0", 1)) == address


def test_fraction_is_a_number_from_zero_to_one_or_none() -> None:
    values = ["0", "0.25", "1", "1.5", "-0.1", "nan", "half", ""]
    assert [envconfig.fraction(value) for value in values] == [
        0.0,
        0.25,
        1.0,
        None,
        None,
        None,
        None,
        None,
    ]
