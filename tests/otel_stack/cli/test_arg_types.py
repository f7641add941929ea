"""The checks of option values (otel_stack/cli/arg_types.py)."""

from __future__ import annotations

import argparse

import pytest

from otel_stack.cli import arg_types


def test_an_address_is_host_and_port_without_ipv6_brackets() -> None:
    assert arg_types.address("[::1]:9099") == ("::1", 9099)
    assert arg_types.address("127.0.0.1:80") == ("127.0.0.1", 80)


@pytest.mark.parametrize("text", ["0", "65536", "http", "-1", "8.5"])
def test_a_port_outside_1_to_65535_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="port") as error:
        arg_types.port(text)
    assert "\n" not in str(error.value)


def test_a_rate_of_zero_means_as_fast_as_possible_and_is_allowed() -> None:
    assert arg_types.rate("0") == 0.0


def test_a_duration_must_be_positive() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="positive number of seconds"):
        arg_types.seconds("0")
