"""Implausible values are rejected with their own reason and counter, per field (bounds: docs/events.md).

A forged or broken frame can be perfectly well-formed: a liquidation of 1e20 BTC (about $1e24), a price of 0,
an event time in the year 3e18. Each must be refused by the parser as ``implausible``, counted under
``liqmon_feed_parse_errors_total{reason="implausible"}`` and ``liqmon_feed_implausible_total{field=...}``,
and never reach the bus; the frames around it still go through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from monitor.errors import ImplausibleEvent, ImplausibleValue
from monitor.events import BOUNDS, HEADER_FIELDS, Event, make_funding, make_header, make_liquidation, make_open_interest
from monitor.metrics import Metrics
from monitor.venues.binance import BinanceAdapter
from monitor.venues.bybit import BybitAdapter
from monitor.venues.feed import FeedSink
from tests.conftest import SAMPLES

RECV = 1_738_771_200_000
FORCE_ORDER = orjson.loads((SAMPLES / "binance_forceOrder.jsonl").read_text().splitlines()[0])
MARK_PRICE = orjson.loads((SAMPLES / "binance_markPrice.jsonl").read_text().splitlines()[0])
ALL_LIQUIDATION = orjson.loads((SAMPLES / "bybit_allLiquidation.jsonl").read_text().splitlines()[0])


def made(maker: Any, **fields: Any) -> Any:
    """An event made from all its fields, the header checked first by make_header (as an Instrument does)."""
    header = make_header(*(fields.pop(name) for name in HEADER_FIELDS))
    return maker(header=header, **fields)


class ListBus:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


def force_order(**order: object) -> str:
    return orjson.dumps({**FORCE_ORDER, "o": {**FORCE_ORDER["o"], **order}}).decode()


def mark_price(**fields: object) -> str:
    return orjson.dumps({**MARK_PRICE, **fields}).decode()


BINANCE_CASES = [
    ("qty 1e20 (about $1e24)", force_order(q="1e20", l="1e20", z="1e20"), "qty_base"),
    ("price 0", force_order(p="0", ap="0"), "price"),
    ("ts_ms 1e29", force_order(T=1e29), "ts_ms"),
    ("price 1e12", force_order(p="1e12", ap="1e12"), "price"),
    ("notional $1e11", force_order(q="1e6", l="1e6", z="1e6", p="1e5", ap="1e5"), "notional_usd"),
    ("funding 5000 % per 8 h", mark_price(r="50"), "rate"),
    ("mark price 1e12", mark_price(p="1e12"), "mark_price"),
    ("next funding in the year 3e18", mark_price(T=1e26), "next_funding_ms"),
]


@pytest.mark.parametrize(("frame", "field"), [c[1:] for c in BINANCE_CASES], ids=[c[0] for c in BINANCE_CASES])
def test_binance_implausible_frames_are_refused_by_field(frame: str, field: str) -> None:
    with pytest.raises(ImplausibleValue) as caught:
        BinanceAdapter().parse(frame, RECV)
    assert caught.value.reason == "implausible"
    assert caught.value.field == field
    assert field in str(caught.value)


def test_bybit_liquidation_of_1e20_is_refused() -> None:
    row = {**ALL_LIQUIDATION["data"][0], "v": "1e20"}
    frame = orjson.dumps({**ALL_LIQUIDATION, "data": [row]}).decode()
    with pytest.raises(ImplausibleValue, match="qty_base"):
        BybitAdapter().parse(frame, RECV)


def test_open_interest_of_1e20_is_refused() -> None:
    body = orjson.dumps({"openInterest": "1e20", "symbol": "BTCUSDT", "time": 1589437530011}).decode()
    with pytest.raises(ImplausibleValue) as caught:
        BinanceAdapter().parse_rest("/fapi/v1/openInterest?symbol=BTCUSDT", body, RECV)
    assert caught.value.field == "oi_base"


def test_the_feed_counts_them_by_reason_and_field_and_keeps_the_good_frames(metrics: Metrics) -> None:
    bus = ListBus()
    sink = FeedSink("binance", bus, metrics)
    adapter = BinanceAdapter()
    good = orjson.dumps(FORCE_ORDER).decode()
    for _, frame, _ in BINANCE_CASES:
        assert sink.frame(adapter, frame, RECV) == 0
    assert sink.frame(adapter, good, RECV) == 1
    assert [e.kind for e in bus.events] == ["liquidation"]
    parse_errors = metrics.registry.get_sample_value(
        "liqmon_feed_parse_errors_total", {"venue": "binance", "reason": "implausible"}
    )
    assert parse_errors == len(BINANCE_CASES)
    for field in {c[2] for c in BINANCE_CASES}:
        expected = sum(1 for c in BINANCE_CASES if c[2] == field)
        labels = {"venue": "binance", "field": field}
        assert metrics.registry.get_sample_value("liqmon_feed_implausible_total", labels) == expected, field


COMMON = {
    "id": "x",
    "venue": "okx",
    "symbol": "BTC-USDT-SWAP",
    "base": "BTC",
    "quote": "USDT",
    "contract": "linear",
    "recv_ms": RECV,
}


def test_every_bound_is_inclusive_and_the_next_value_is_refused() -> None:
    """The bounds themselves are accepted (no real value is refused by an off-by-one); just past them is not."""
    for field in ("price", "qty_base", "notional_usd"):
        values = {"price": 1.0, "qty_base": 1.0, "notional_usd": 1.0, field: BOUNDS[field]}
        made(make_liquidation, **COMMON, ts_ms=RECV, side="long", **values)
        with pytest.raises(ImplausibleEvent):
            made(make_liquidation, **COMMON, ts_ms=RECV, side="long", **{**values, field: BOUNDS[field] * 1.01})
    made(make_liquidation, **COMMON, ts_ms=int(BOUNDS["ts_ms"]), side="long", price=1.0, qty_base=1.0, notional_usd=1.0)
    with pytest.raises(ImplausibleEvent):
        made(
            make_liquidation,
            **COMMON,
            ts_ms=int(BOUNDS["ts_ms"]) + 1,
            side="long",
            price=1.0,
            qty_base=1.0,
            notional_usd=1.0,
        )
    with pytest.raises(ImplausibleEvent):
        made(make_funding, **COMMON, ts_ms=RECV, rate=-1.01, interval_h=8.0, rate_8h=-1.01)
    with pytest.raises(ImplausibleEvent):
        made(make_funding, **COMMON, ts_ms=RECV, rate=0.01, interval_h=1000.0, rate_8h=0.0001)
    with pytest.raises(ImplausibleEvent):
        made(make_open_interest, **COMMON, ts_ms=RECV, oi_base=1.0, oi_usd=BOUNDS["oi_usd"] * 2)
