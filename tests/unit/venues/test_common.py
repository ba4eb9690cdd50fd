"""Helpers every venue reader uses: stable event ids, sign-free zeros, typed-reader errors."""

from __future__ import annotations

import math

import msgspec
import pytest

from monitor.venues.common import Finite, NonNegative, decode_failed, event_id, num
from monitor.venues.instruments import Instrument
from monitor.venues.registry import create_adapter


def test_event_ids_do_not_depend_on_the_process() -> None:
    # A literal, not a recomputation: an id that changed between versions or processes would break dedup.
    assert event_id("binance|BTCUSDT|SELL", 1_568_014_460_893, 0.014, 9910.0) == "589cc1730fc8468d"
    assert event_id("binance|BTCUSDT|SELL", 1_568_014_460_893, 0.014, 9910.5) != "589cc1730fc8468d"


@pytest.mark.parametrize("spelling", ["-0", "-0.0", "0", 0, -0.0])
def test_zero_is_read_without_a_sign_whatever_its_spelling(spelling: object) -> None:
    assert math.copysign(1.0, num(spelling, "x")) == 1.0


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
