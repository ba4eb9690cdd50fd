"""Deribit adapter: liquidation trades, tickers, heartbeats, instruments, subscriptions, bad input."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.deribit import DeribitAdapter
from tests.conftest import FIXTURES, SAMPLES

RECV = 1_738_771_200_000


def sample(name: str, line: int = 0) -> str:
    return (SAMPLES / name).read_text().splitlines()[line]


def notification(channel: str, data: Any) -> bytes:
    """A subscription notification around a docs example that shows only the ``data`` part."""
    return orjson.dumps({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}})


def loaded() -> DeribitAdapter:
    adapter = DeribitAdapter()
    for currency, name in (("BTC", "deribit_btc.json"), ("USDC", "deribit_usdc.json")):
        adapter.load_instruments(
            f"/api/v2/public/get_instruments?currency={currency}&kind=future",
            (FIXTURES / "instruments" / name).read_bytes(),
        )
    return adapter


def trade(**fields: Any) -> dict[str, Any]:
    row = {
        "trade_seq": 1,
        "trade_id": "ETH-1",
        "timestamp": 1738771100000,
        "tick_direction": 0,
        "price": 60000,
        "instrument_name": "BTC-PERPETUAL",
        "index_price": 60010,
        "direction": "sell",
        "amount": 600,
    }
    row.update(fields)
    return row


# -- liquidations ------------------------------------------------------------------------------
def test_docs_trade_without_liquidation_flag_is_not_a_liquidation() -> None:
    data = orjson.loads(sample("deribit_trades.jsonl", 0))
    assert DeribitAdapter().parse(notification("trades.BTC-PERPETUAL.100ms", data), RECV) == []


@pytest.mark.parametrize("with_book", [False, True])
@pytest.mark.parametrize(
    ("line", "trade_id", "price", "amount_usd", "ts"),
    [
        # T + sell: the taker sold and was liquidated ⇒ a long. 1120 USD / 4469.5 = 0.25059 BTC
        (1, "66460463", 4469.5, 1120.0, 1584058044032),
        # M + buy: the maker sold into a buy and was liquidated ⇒ a long. 2500 USD / 4458.5 = 0.56073 BTC
        (2, "66460626", 4458.5, 2500.0, 1584058067675),
    ],
)
def test_recorded_liquidation_trades(
    *, line: int, trade_id: str, price: float, amount_usd: float, ts: int, with_book: bool
) -> None:
    adapter = loaded() if with_book else DeribitAdapter()
    [event] = adapter.parse(sample("deribit_trades.jsonl", line), RECV)
    assert isinstance(event, Liquidation)
    assert (event.symbol, event.base, event.quote, event.contract) == ("BTC-PERPETUAL", "BTC", "USD", "inverse")
    assert event.id == trade_id
    assert event.side == "long"
    assert event.price == pytest.approx(price)
    assert event.qty_base == pytest.approx(amount_usd / price)
    assert event.notional_usd == pytest.approx(amount_usd)  # inverse amount is already USD
    assert event.ts_ms == ts
    assert adapter.drain_issues() == []


@pytest.mark.parametrize(
    ("flag", "direction", "sides"),
    [
        ("T", "buy", [("ETH-1", "short")]),
        ("M", "sell", [("ETH-1", "short")]),
        # both sides liquidated: the maker bought (short closed), the taker sold (long closed)
        ("MT", "sell", [("ETH-1-M", "short"), ("ETH-1-T", "long")]),
        ("MT", "buy", [("ETH-1-M", "long"), ("ETH-1-T", "short")]),
    ],
)
def test_side_rules(flag: str, direction: str, sides: list[tuple[str, str]]) -> None:
    frame = notification("trades.BTC-PERPETUAL.100ms", [trade(liquidation=flag, direction=direction)])
    events = DeribitAdapter().parse(frame, RECV)
    assert [(e.id, e.side) for e in events if isinstance(e, Liquidation)] == sides
    for event in events:
        assert isinstance(event, Liquidation)
        assert event.qty_base == pytest.approx(0.01)  # 600 USD / 60000
        assert event.notional_usd == pytest.approx(600.0)


@pytest.mark.parametrize("with_book", [False, True])
def test_linear_usdc_perpetual_amount_is_base_coin(with_book: bool) -> None:
    adapter = loaded() if with_book else DeribitAdapter()
    frame = notification(
        "trades.BTC_USDC-PERPETUAL.100ms", [trade(instrument_name="BTC_USDC-PERPETUAL", amount=0.5, liquidation="T")]
    )
    [event] = adapter.parse(frame, RECV)
    assert isinstance(event, Liquidation)
    assert (event.base, event.quote, event.contract) == ("BTC", "USDC", "linear")
    assert event.qty_base == pytest.approx(0.5)
    assert event.notional_usd == pytest.approx(30000.0)  # 0.5 BTC × 60000


def test_unknown_contract_gives_no_size_and_an_issue() -> None:
    adapter = DeribitAdapter()
    frame = notification(
        "trades.option.BTC.100ms", [trade(instrument_name="BTC-27JUN25-60000-C", price=0.05, amount=3, liquidation="T")]
    )
    [event] = adapter.parse(frame, RECV)
    assert isinstance(event, Liquidation)
    assert (event.qty_base, event.notional_usd) == (None, None)
    assert [reason for reason, _ in adapter.drain_issues()] == ["unknown_contract"]


# -- ticker ------------------------------------------------------------------------------------
def test_ticker_docs_example() -> None:
    data = orjson.loads(sample("deribit_ticker.jsonl"))
    funding, oi = DeribitAdapter().parse(notification("ticker.BTC-PERPETUAL.100ms", data), RECV)
    assert isinstance(funding, Funding)
    assert isinstance(oi, OpenInterest)
    assert funding.rate == pytest.approx(2.11e-05)  # funding_8h, an 8-hour rate
    assert funding.interval_h == 8.0
    assert funding.rate_8h == pytest.approx(2.11e-05)
    assert funding.next_funding_ms is None  # continuous funding
    assert funding.mark_price == pytest.approx(36446.51)
    assert funding.index_price == pytest.approx(36441.64)
    assert funding.ts_ms == oi.ts_ms == 1623060194301
    # open_interest is USD for the perpetual: 502097590 USD / 36446.51 = 13776.03 BTC
    assert oi.oi_usd == pytest.approx(502097590.0)
    assert oi.oi_base == pytest.approx(502097590 / 36446.51)


def test_linear_ticker_open_interest_is_base_coin_and_dated_future_has_no_funding() -> None:
    adapter = loaded()
    linear = {
        "instrument_name": "ETH_USDC-PERPETUAL",
        "timestamp": 1738771100000,
        "mark_price": 2500.0,
        "index_price": 2501.0,
        "funding_8h": -0.0001,
        "current_funding": 0,
        "open_interest": 1000.0,
    }
    funding, oi = adapter.parse(notification("ticker.ETH_USDC-PERPETUAL.100ms", linear), RECV)
    assert isinstance(funding, Funding)
    assert isinstance(oi, OpenInterest)
    assert funding.rate_8h == pytest.approx(-0.0001)
    assert (oi.oi_base, oi.oi_usd) == (1000.0, pytest.approx(2_500_000.0))  # 1000 ETH × 2500
    dated = {
        "instrument_name": "BTC-27MAR26",
        "timestamp": 1738771100000,
        "mark_price": 100000.0,
        "open_interest": 5_000_000,
    }
    [only] = adapter.parse(notification("ticker.BTC-27MAR26.100ms", dated), RECV)
    assert isinstance(only, OpenInterest)
    assert only.oi_base == pytest.approx(50.0)  # 5 M USD / 100000


def test_inverse_open_interest_without_any_price_is_skipped_and_reported() -> None:
    adapter = DeribitAdapter()
    data = {"instrument_name": "BTC-PERPETUAL", "timestamp": 5, "open_interest": 100}
    assert adapter.parse(notification("ticker.BTC-PERPETUAL.100ms", data), RECV) == []
    assert adapter.drain_issues()[0][0] == "no_price"


# -- heartbeats, control frames ----------------------------------------------------------------
def test_test_request_is_answered_with_public_test() -> None:
    adapter = DeribitAdapter()
    frame = '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}'
    answer = orjson.loads(adapter.reply(frame) or "null")
    assert answer["method"] == "public/test"
    assert answer["jsonrpc"] == "2.0"
    assert isinstance(answer["id"], int)
    assert adapter.parse(frame, RECV) == []


@pytest.mark.parametrize(
    "frame",
    [
        '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}',
        "garbage",
        "[]",
        "7",
        '{"jsonrpc":"2.0","id":1,"result":"ok"}',
    ],
)
def test_other_frames_need_no_reply(frame: str) -> None:
    assert DeribitAdapter().reply(frame) is None


@pytest.mark.parametrize(
    "frame",
    [
        '{"jsonrpc":"2.0","id":1,"result":"ok","usIn":1,"usOut":2,"usDiff":1,"testnet":false}',
        '{"jsonrpc":"2.0","id":2,"result":["trades.BTC-PERPETUAL.100ms","ticker.BTC-PERPETUAL.100ms"]}',
        '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}',
    ],
)
def test_control_frames(frame: str) -> None:
    adapter = DeribitAdapter()
    assert adapter.parse(frame, RECV) == []
    assert adapter.drain_issues() == []


def test_error_response_is_reported() -> None:
    adapter = DeribitAdapter()
    frame = '{"jsonrpc":"2.0","id":2,"error":{"code":11050,"message":"bad_request"}}'
    assert adapter.parse(frame, RECV) == []
    assert adapter.drain_issues()[0][0] == "subscription_rejected"


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{", "json"),
        ("[1]", "schema"),
        ('{"jsonrpc":"2.0"}', "schema"),
        ('{"jsonrpc":"2.0","method":"private/logout"}', "unknown_channel"),
        (
            '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms","data":{}}}',
            "unknown_channel",
        ),
        (
            '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.100ms","data":{}}}',
            "schema",
        ),
        (
            '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.X.100ms","data":[{"liquidation":"Q",'
            '"instrument_name":"BTC-PERPETUAL"}]}}',
            "value",
        ),
        (
            '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.X.100ms","data":'
            '{"instrument_name":"BTC-PERPETUAL","funding_8h":"high"}}}',
            "value",
        ),
    ],
)
def test_unreadable_frames_raise_parse_error(frame: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        DeribitAdapter().parse(frame, RECV)
    assert info.value.reason == reason


# -- instruments and subscriptions -------------------------------------------------------------
def test_instruments() -> None:
    adapter = loaded()
    assert adapter.instruments.perpetuals() == ["BTC-PERPETUAL", "BTC_USDC-PERPETUAL", "ETH_USDC-PERPETUAL"]
    perp = adapter.instruments.get("BTC-PERPETUAL")
    assert perp is not None
    assert (perp.contract, perp.size_unit, perp.contract_size, perp.funding_interval_h) == ("inverse", "usd", 10.0, 8.0)
    usdc = adapter.instruments.get("BTC_USDC-PERPETUAL")
    assert usdc is not None
    assert (usdc.contract, usdc.size_unit, usdc.quote, usdc.contract_size) == ("linear", "base", "USDC", 0.001)
    dated = adapter.instruments.get("BTC-27MAR26")
    assert dated is not None
    assert (dated.perpetual, dated.funding_interval_h) == (False, None)


def test_connections_start_with_set_heartbeat() -> None:
    conn, options = DeribitAdapter().connections(["BTC-PERPETUAL", "ETH_USDC-PERPETUAL"])
    assert conn.url == "wss://www.deribit.com/ws/api/v2"
    heartbeat, subscribe = (orjson.loads(m) for m in conn.subscribe)
    assert heartbeat["method"] == "public/set_heartbeat"
    assert heartbeat["params"]["interval"] >= 10
    assert subscribe["method"] == "public/subscribe"
    assert subscribe["params"]["channels"] == [
        "trades.BTC-PERPETUAL.100ms",
        "ticker.BTC-PERPETUAL.100ms",
        "trades.ETH_USDC-PERPETUAL.100ms",
        "ticker.ETH_USDC-PERPETUAL.100ms",
    ]
    assert heartbeat["id"] != subscribe["id"]
    assert conn.bases == ("BTC", "ETH")
    # BTC and ETH have options: their chain, index and DVOL on a connection of their own.
    heartbeat, subscribe = (orjson.loads(m) for m in options.subscribe)
    assert heartbeat["method"] == "public/set_heartbeat"
    assert subscribe["params"]["channels"] == [
        "markprice.options.btc_usd",
        "deribit_price_index.btc_usd",
        "deribit_volatility_index.btc_usd",
        "markprice.options.eth_usd",
        "deribit_price_index.eth_usd",
        "deribit_volatility_index.eth_usd",
    ]
    assert (options.label, options.bases, options.symbols) == ("options", ("BTC", "ETH"), ())


def test_connections_split_and_all_means_book_perpetuals() -> None:
    names = [f"C{i}-PERPETUAL" for i in range(250)]
    conns = DeribitAdapter().connections(names, ws_url="ws://127.0.0.1:9100")
    assert [len(c.symbols) for c in conns] == [100, 100, 50]
    assert all(c.url == "ws://127.0.0.1:9100/ws/api/v2" for c in conns)
    assert loaded().connections([])[0].symbols == ("BTC-PERPETUAL", "BTC_USDC-PERPETUAL", "ETH_USDC-PERPETUAL")


def test_declarations() -> None:
    assert DeribitAdapter.keepalive.mode == "answer_server"
    assert DeribitAdapter.liveness_timeout_s > DeribitAdapter.keepalive.interval_s >= 10
    assert DeribitAdapter().ping_payload() is None


def test_instrument_body_is_read_whatever_the_path_label() -> None:
    adapter = DeribitAdapter()
    assert adapter.load_instruments("instruments", (FIXTURES / "instruments/deribit_usdc.json").read_bytes()) == 2
