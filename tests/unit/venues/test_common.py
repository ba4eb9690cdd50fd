"""Helpers every venue reader uses: stable event ids, sign-free zeros, typed-reader errors."""

from __future__ import annotations

import dataclasses
import math

import msgspec
import pytest

from monitor.errors import InvalidEvent, ParseError
from monitor.venues.common import Finite, NonNegative, decode_failed, event_id, num
from monitor.venues.instruments import Instrument, InstrumentBook
from monitor.venues.registry import create_adapter


def test_event_ids_do_not_depend_on_the_process() -> None:
    # A literal, not a recomputation: an id that changed between versions or processes would break dedup.
    assert event_id("binance|BTCUSDT|SELL", 1_568_014_460_893, 0.014, 9910.0) == "589cc1730fc8468d"
    assert event_id("binance|BTCUSDT|SELL", 1_568_014_460_893, 0.014, 9910.5) != "589cc1730fc8468d"


@pytest.mark.parametrize("spelling", ["-0", "-0.0", "0", 0, -0.0])
def test_zero_is_read_without_a_sign_whatever_its_spelling(spelling: object) -> None:
    assert math.copysign(1.0, num(spelling, "x")) == 1.0


@pytest.mark.parametrize(("value", "expected"), [(1.5, 1.5), (3, 3.0), ("2.25", 2.25), (" 7 ", 7.0), (1e308, 1e308)])
def test_num_reads_numbers_and_numeric_text_as_floats(value: object, expected: float) -> None:
    result = num(value, "x")
    assert type(result) is float
    assert result == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf", True, None, "abc", [1.0]])
def test_num_refuses_what_is_not_a_finite_number(value: object) -> None:
    with pytest.raises(ParseError) as caught:
        num(value, "x")
    assert caught.value.reason == "value"


class _Row(msgspec.Struct):
    price: NonNegative
    rate: Finite


@pytest.mark.parametrize(
    ("frame", "reason", "where"),
    [
        (b'{"price": -1, "rate": 0}', "value", "$.price"),
        (b'{"price": "abc", "rate": 0}', "value", "$.price"),
        (b'{"price": 1, "rate": "nan"}', "value", "$.rate"),
        (b'{"price": [], "rate": 0}', "schema", "$.price"),
        (b'{"rate": 0}', "schema", "price"),
        (b'{"price": 1', "json", ""),
    ],
)
def test_typed_reader_errors_name_the_field_and_a_bounded_reason(frame: bytes, reason: str, where: str) -> None:
    with pytest.raises(msgspec.MsgspecError) as info:
        msgspec.json.Decoder(_Row, strict=False).decode(frame)
    error = decode_failed("venue", info.value)
    assert error.reason == reason
    assert where in str(error)


def test_a_guessed_instrument_gives_way_to_the_book() -> None:
    adapter = create_adapter("okx")
    guessed = adapter.instrument("BTC-USDT-SWAP")
    assert (guessed.base, guessed.quote, guessed.contract_size) == ("BTC", "USDT", None)
    listed = Instrument("okx", "BTC-USDT-SWAP", "BTC", "USDT", "linear", "contracts", contract_size=0.01)
    adapter.instruments.update([listed])
    assert adapter.instrument("BTC-USDT-SWAP") is listed


def test_an_instrument_whose_header_breaks_a_rule_loads_and_each_of_its_events_is_refused() -> None:
    # The header (venue, symbol, base, quote, contract) is checked once, when the instrument is made; the
    # instrument still loads, and every event made from it is refused, naming the field, as before.
    bad = Instrument("okx", "BTC-USDT-SWAP", "BTC", "USDT", "quanto", "base")  # type: ignore[arg-type]
    good = dataclasses.replace(bad, contract="linear")
    assert good.liquidation("x", 1, 1, "long", 1.0, 2.0).contract == "linear"
    for make in (
        lambda: bad.liquidation("x", 1, 1, "long", 1.0, 2.0),
        lambda: bad.funding("x", 1, 1, 0.0001, 8.0),
        lambda: bad.open_interest("x", 1, 1, 5.0, 1.0),
    ):
        with pytest.raises(InvalidEvent, match="contract must be 'inverse' or 'linear', got 'quanto'"):
            make()


def test_an_instrument_saved_and_loaded_keeps_its_fields_and_its_checked_header() -> None:
    book = InstrumentBook("okx", [Instrument("okx", "BTC-USDT-SWAP", "XBT", "USDT", "linear", "contracts", 0.01)])
    (loaded,) = InstrumentBook.from_json(book.to_json())
    assert loaded == next(iter(book))
    assert loaded.header == ("okx", "BTC-USDT-SWAP", "BTC", "USDT", "linear")
