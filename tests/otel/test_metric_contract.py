"""Which instruments a View selector selects, as the SDK matches them (otel/metric_contract.py)."""

from __future__ import annotations

from otel.metric_contract import CONTRACT_INSTRUMENTS, Selector, first_selected, selects


def test_every_contract_instrument_is_selected_by_its_own_name() -> None:
    for instrument in CONTRACT_INSTRUMENTS:
        selector = Selector(instrument_name=instrument.name, meter_name=instrument.scope)
        assert first_selected(selector) == instrument


def test_selectors_match_like_the_sdk() -> None:
    (duration,) = [each for each in CONTRACT_INSTRUMENTS if each.name == "http.request.duration"]
    assert selects(Selector(instrument_name="HTTP.Request.*"), duration)
    assert not selects(Selector(unit="S"), duration)  # units are case-sensitive
    assert not selects(Selector(meter_name="otel-python"), duration)
    assert not selects(Selector(instrument_type="counter"), duration)
    assert not selects(Selector(meter_version="9.9.9"), duration)
    assert first_selected(Selector(instrument_name="http.client.request.duration")) is None
