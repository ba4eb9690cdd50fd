"""Parser contract for Binance, Bybit, OKX and Deribit: any input gives valid events or ParseError.

Three kinds of input: arbitrary text, arbitrary JSON, and near-valid frames
(the venue samples with one field removed, replaced or retyped, applied a few
times over). Nothing but :class:`~monitor.errors.ParseError` may escape, and
every event returned must be one of the market event types.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest, OptionsSummary
from monitor.venues.adapter import VenueAdapter
from monitor.venues.binance import BinanceAdapter
from monitor.venues.bybit import BybitAdapter
from monitor.venues.deribit import DeribitAdapter
from monitor.venues.okx import OkxAdapter
from tests.conftest import FIXTURES, SAMPLES

RECV = 1_738_771_200_000
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lines(name: str) -> list[str]:
    return (SAMPLES / name).read_text().splitlines()


def deribit_frames() -> list[str]:
    def wrap(channel: str, data: Any) -> str:
        body = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
        return orjson.dumps(body).decode()

    trades = lines("deribit_trades.jsonl")
    return [
        wrap("ticker.BTC-PERPETUAL.100ms", orjson.loads(lines("deribit_ticker.jsonl")[0])),
        wrap("trades.BTC-PERPETUAL.100ms", orjson.loads(trades[0])),
        *trades[1:],
        wrap("markprice.options.btc_usd", orjson.loads(lines("deribit_markprice_options.jsonl")[0])),
        wrap("deribit_volatility_index.btc_usd", orjson.loads(lines("deribit_volatility_index.jsonl")[0])),
        wrap("deribit_price_index.btc_usd", orjson.loads(lines("deribit_price_index.jsonl")[0])),
        '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}',
        '{"jsonrpc":"2.0","id":2,"error":{"code":11050,"message":"bad_request"}}',
    ]


def book(adapter: VenueAdapter, files: list[tuple[str, str]]) -> VenueAdapter:
    for path, name in files:
        adapter.load_instruments(path, (FIXTURES / "instruments" / name).read_bytes())
    return adapter


VENUES: dict[str, tuple[Callable[[], VenueAdapter], list[str]]] = {
    "binance": (
        lambda: book(
            BinanceAdapter(),
            [
                ("/fapi/v1/exchangeInfo", "binance_exchangeInfo.json"),
                ("/fapi/v1/fundingInfo", "binance_fundingInfo.json"),
            ],
        ),
        lines("binance_forceOrder.jsonl")
        + lines("binance_markPrice.jsonl")
        + [
            '{"stream":"!forceOrder@arr","data":' + lines("binance_forceOrder.jsonl")[0] + "}",
            '{"result":null,"id":1}',
        ],
    ),
    "bybit": (
        lambda: book(
            BybitAdapter(),
            [
                ("/v5/market/instruments-info?category=linear", "bybit_linear.json"),
                ("/v5/market/instruments-info?category=inverse", "bybit_inverse.json"),
            ],
        ),
        lines("bybit_allLiquidation.jsonl")
        + lines("bybit_liquidation.jsonl")
        + lines("bybit_tickers.jsonl")
        + ['{"success":true,"ret_msg":"pong","conn_id":"abc","req_id":"","op":"ping"}'],
    ),
    "okx": (
        lambda: book(
            OkxAdapter(),
            [
                ("/api/v5/public/instruments?instType=SWAP", "okx_swap.json"),
                ("/api/v5/public/instruments?instType=FUTURES", "okx_futures.json"),
            ],
        ),
        lines("okx_liquidation-orders.jsonl")
        + lines("okx_funding-rate.jsonl")
        + lines("okx_mark-price.jsonl")
        + lines("okx_open-interest.jsonl")
        + ['{"event":"error","code":"60012","msg":"Invalid request"}'],
    ),
    "deribit": (
        lambda: book(
            DeribitAdapter(),
            [
                ("/api/v2/public/get_instruments?currency=BTC", "deribit_btc.json"),
                ("/api/v2/public/get_instruments?currency=USDC", "deribit_usdc.json"),
            ],
        ),
        deribit_frames(),
    ),
}
NAMES = sorted(VENUES)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
# Values that often break parsers: wrong types, empty and special strings, edge numbers.
nasty = st.sampled_from(
    [
        None,
        "",
        "0",
        "-1",
        "NaN",
        "Infinity",
        "1e400",
        "abc",
        0,
        -1,
        -0.0,
        1e308,
        2**63 - 1,
        True,
        [],
        {},
        [1],
        {"a": 1},
        "Buy",
        "Sell",
        "SELL",
        "long",
        "net",
        "MT",
        "T",
        "M",
        "snapshot",
        "delta",
    ]
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside a JSON value (object keys and array indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths(child, (*prefix, index)))
    return found


def mutate(doc: Any, data: st.DataObject) -> Any:
    """Remove, replace or retype the value at one drawn location."""
    where = data.draw(st.sampled_from(paths(doc)))
    action = data.draw(st.sampled_from(["remove", "nasty", "random", "stringify"]))
    if not where:
        return copy.deepcopy(data.draw(nasty | json_values))
    parent = doc
    for step in where[:-1]:
        parent = parent[step]
    key = where[-1]
    if action == "remove":
        del parent[key]
    elif action == "nasty":
        parent[key] = copy.deepcopy(data.draw(nasty))  # the sampled constants must stay untouched
    elif action == "random":
        parent[key] = copy.deepcopy(data.draw(json_values))
    else:
        parent[key] = str(parent[key])
    return doc


def check(adapter: VenueAdapter, frame: str | bytes) -> None:
    try:
        events = adapter.parse(frame, RECV)
    except ParseError as exc:
        reason = exc.reason
        assert reason  # a bounded metric label
        assert len(reason) <= 32
        return
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, Liquidation | Funding | OpenInterest | OptionsSummary)
        assert event.venue == adapter.name


@pytest.mark.parametrize("venue", NAMES)
@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(bytes))
def test_arbitrary_text(venue: str, text: str | bytes) -> None:
    check(VENUES[venue][0](), text)


@pytest.mark.parametrize("venue", NAMES)
@FUZZ
@given(doc=json_values)
def test_arbitrary_json(venue: str, doc: Any) -> None:
    check(VENUES[venue][0](), orjson.dumps(doc))


@pytest.mark.parametrize("venue", NAMES)
@FUZZ
@given(data=st.data())
def test_near_valid_frames(venue: str, data: st.DataObject) -> None:
    factory, frames = VENUES[venue]
    adapter = factory()
    # A short sequence, so state (ticker snapshots, mark prices) built from mutated frames is exercised too.
    for _ in range(data.draw(st.integers(1, 4))):
        doc = orjson.loads(data.draw(st.sampled_from(frames)))
        for _ in range(data.draw(st.integers(1, 3))):
            doc = mutate(doc, data)
        check(adapter, orjson.dumps(doc))
    adapter.drain_issues()


@pytest.mark.parametrize(
    ("venue", "path", "name"),
    [
        ("binance", "/fapi/v1/exchangeInfo", "binance_exchangeInfo.json"),
        ("binance", "/fapi/v1/fundingInfo", "binance_fundingInfo.json"),
        ("bybit", "/v5/market/instruments-info?category=linear", "bybit_linear.json"),
        ("okx", "/api/v5/public/instruments?instType=SWAP", "okx_swap.json"),
        ("deribit", "/api/v2/public/get_instruments?currency=BTC", "deribit_btc.json"),
    ],
)
@FUZZ
@given(data=st.data())
def test_instrument_bodies(venue: str, path: str, name: str, data: st.DataObject) -> None:
    adapter = VENUES[venue][0]()
    doc = orjson.loads((FIXTURES / "instruments" / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        doc = mutate(doc, data)
    try:
        count = adapter.load_instruments(path, orjson.dumps(doc))
    except ParseError:
        return
    assert count >= 0


@FUZZ
@given(data=st.data())
def test_binance_open_interest_bodies(data: st.DataObject) -> None:
    adapter = VENUES["binance"][0]()
    doc = orjson.loads(lines("binance_openInterest_rest.jsonl")[0])
    doc = mutate(doc, data)
    try:
        events = adapter.parse_rest("/fapi/v1/openInterest?symbol=BTCUSDT", orjson.dumps(doc), RECV)
    except ParseError:
        return
    assert all(isinstance(e, OpenInterest) for e in events)


@FUZZ
@given(data=st.data())
def test_deribit_reply_never_raises(data: st.DataObject) -> None:
    doc = mutate(orjson.loads('{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}'), data)
    answer = DeribitAdapter().reply(orjson.dumps(doc))
    assert answer is None or orjson.loads(answer)["method"] == "public/test"
