"""Bybit v5 adapter: samples, ticker delta merging, open-interest convention, instruments, bad input."""

from __future__ import annotations

import orjson
import pytest

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.bybit import BybitAdapter
from tests.conftest import FIXTURES, SAMPLES
from tests.unit.venues.live import check_live_frames


def lines(name: str) -> list[str]:
    return [line for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


RECV = 1_738_771_200_000


def sample(name: str, line: int) -> str:
    return (SAMPLES / name).read_text().splitlines()[line]


def loaded() -> BybitAdapter:
    adapter = BybitAdapter()
    for category in ("linear", "inverse"):
        body = (FIXTURES / "instruments" / f"bybit_{category}.json").read_bytes()
        adapter.load_instruments(f"/v5/market/instruments-info?category={category}&limit=1000", body)
    return adapter


def ticker_events(adapter: BybitAdapter, frame: str) -> tuple[Funding | None, OpenInterest | None]:
    funding = oi = None
    for event in adapter.parse(frame, RECV):
        if isinstance(event, Funding):
            funding = event
        elif isinstance(event, OpenInterest):
            oi = event
    return funding, oi


# -- liquidations ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "line", "symbol", "side", "price", "qty", "notional", "ts"),
    [
        # S=Sell is the position side: a short was liquidated; 20000 ROSE × 0.04499 = 899.8 USD
        ("bybit_allLiquidation.jsonl", 0, "ROSEUSDT", "short", 0.04499, 20000.0, 899.8, 1739502302929),
        # 2846 PIPPIN × 0.02456 = 69.89776 USD
        ("bybit_allLiquidation.jsonl", 1, "PIPPINUSDT", "short", 0.02456, 2846.0, 69.89776, 1740480207110),
        # legacy topic, data is an object: 0.003 BTC × 43511.70 = 130.5351 USD
        ("bybit_liquidation.jsonl", 0, "BTCUSDT", "short", 43511.70, 0.003, 130.5351, 1703485237953),
        # Buy ⇒ long liquidated: 1637 GALA × 0.03803 = 62.25511 USD
        ("bybit_liquidation.jsonl", 1, "GALAUSDT", "long", 0.03803, 1637.0, 62.25511, 1673251091822),
        # inverse: size is USD contracts, 6949 USD / 0.5149 = 13495.82 XRP, notional 6949 USD
        ("bybit_liquidation.jsonl", 2, "XRPUSD", "short", 0.5149, 6949 / 0.5149, 6949.0, 1680673944093),
    ],
)
@pytest.mark.parametrize("with_book", [False, True])
def test_liquidation_samples(
    *,
    name: str,
    line: int,
    symbol: str,
    side: str,
    price: float,
    qty: float,
    notional: float,
    ts: int,
    with_book: bool,
) -> None:
    adapter = loaded() if with_book else BybitAdapter()
    [event] = adapter.parse(sample(name, line), RECV)
    assert isinstance(event, Liquidation)
    assert event.symbol == symbol
    assert event.contract == ("inverse" if symbol == "XRPUSD" else "linear")
    assert event.base == symbol.removesuffix("USDT").removesuffix("USD")
    assert event.side == side
    assert event.price == pytest.approx(price)
    assert event.qty_base == pytest.approx(qty)
    assert event.notional_usd == pytest.approx(notional)
    assert event.ts_ms == ts
    assert adapter.drain_issues() == []


def test_liquidation_id_is_stable_for_a_resent_frame() -> None:
    adapter = BybitAdapter()
    first = adapter.parse(sample("bybit_allLiquidation.jsonl", 0), RECV)
    again = adapter.parse(sample("bybit_allLiquidation.jsonl", 0), RECV + 10)
    assert first[0].id == again[0].id
    assert first[0].id != adapter.parse(sample("bybit_allLiquidation.jsonl", 1), RECV)[0].id


def test_unknown_contract_gives_no_notional_and_an_issue() -> None:
    frame = (
        '{"topic":"allLiquidation.MYSTERY","ts":1,"data":[{"T":1739502302929,"s":"MYSTERY","S":"Buy","v":"5","p":"2"}]}'
    )
    adapter = BybitAdapter()
    [event] = adapter.parse(frame, RECV)
    assert isinstance(event, Liquidation)
    assert (event.side, event.qty_base, event.notional_usd) == ("long", None, None)
    assert [reason for reason, _ in adapter.drain_issues()] == ["unknown_contract"]


# -- tickers -----------------------------------------------------------------------------------
def test_linear_ticker_snapshot_2023_docs_example() -> None:
    funding, oi = ticker_events(BybitAdapter(), sample("bybit_tickers.jsonl", 0))
    assert funding is not None
    assert oi is not None
    assert funding.rate == pytest.approx(-0.000212)
    assert funding.interval_h == 8.0  # no fundingIntervalHour and no instrument list: 8 h
    assert funding.rate_8h == pytest.approx(-0.000212)
    assert funding.next_funding_ms == 1673280000000
    assert (funding.mark_price, funding.index_price) == (pytest.approx(17217.33), pytest.approx(17227.36))
    assert funding.ts_ms == 1673272861686
    # openInterest is both sides: 68744.761 / 2 = 34372.3805 BTC, × mark 17217.33
    assert oi.oi_base == pytest.approx(34372.3805)
    assert oi.oi_usd == pytest.approx(34372.3805 * 17217.33)
    assert oi.ts_ms == 1673272861686


def test_linear_ticker_snapshot_current_docs_example() -> None:
    funding, oi = ticker_events(BybitAdapter(), sample("bybit_tickers.jsonl", 1))
    assert funding is not None
    assert oi is not None
    assert funding.rate == pytest.approx(-0.005)
    assert funding.interval_h == 8.0  # fundingIntervalHour "8"
    assert funding.rate_8h == pytest.approx(-0.005)
    assert funding.next_funding_ms == 1760342400000
    assert funding.mark_price == pytest.approx(66666.60)
    assert funding.index_price == pytest.approx(115418.19)
    assert oi.oi_base == pytest.approx(492373.72 / 2)  # 246186.86 BTC one side
    assert oi.oi_usd == pytest.approx(246186.86 * 66666.60)
    assert oi.ts_ms == 1760325052630


def test_linear_ticker_snapshot_recorded() -> None:
    funding, oi = ticker_events(BybitAdapter(), sample("bybit_tickers.jsonl", 4))
    assert funding is not None
    assert oi is not None
    assert (funding.rate, funding.interval_h, funding.rate_8h) == (0.0001, 8.0, pytest.approx(0.0001))
    assert funding.next_funding_ms == 1680681600000
    assert funding.mark_price == pytest.approx(28552.81)
    assert oi.oi_base == pytest.approx(26387.264)  # 52774.528 / 2
    assert oi.oi_usd == pytest.approx(26387.264 * 28552.81)
    assert oi.ts_ms == 1680673821770


def test_inverse_ticker_snapshot_then_delta_merges_missing_fields() -> None:
    adapter = BybitAdapter()
    funding, oi = ticker_events(adapter, sample("bybit_tickers.jsonl", 2))
    assert funding is not None
    assert oi is not None
    assert (funding.symbol, funding.contract, funding.base, funding.quote) == ("BTCUSD", "inverse", "BTC", "USD")
    assert funding.rate == pytest.approx(0.0001)
    assert funding.rate_8h == pytest.approx(0.0001)
    assert funding.ts_ms == 1680673822577
    # inverse openInterest is USD, both sides: 449736676 / 2 = 224868338 USD; / 28560 = 7873.54 BTC
    assert oi.oi_usd == pytest.approx(224868338.0)
    assert oi.oi_base == pytest.approx(224868338 / 28560)
    # the delta has no markPrice, nextFundingTime or indexPrice: they come from the snapshot
    funding, oi = ticker_events(adapter, sample("bybit_tickers.jsonl", 3))
    assert funding is not None
    assert oi is not None
    assert funding.mark_price == pytest.approx(28560.0)
    assert funding.index_price == pytest.approx(28566.94)
    assert funding.next_funding_ms == 1680681600000
    assert funding.ts_ms == 1680673822776
    assert oi.oi_usd == pytest.approx(449736674 / 2)  # 224868337 USD
    assert oi.oi_base == pytest.approx(224868337 / 28560)
    assert oi.ts_ms == 1680673822776


def test_reset_forgets_snapshots() -> None:
    adapter = BybitAdapter()
    adapter.parse(sample("bybit_tickers.jsonl", 2), RECV)
    adapter.reset()
    funding, oi = ticker_events(adapter, sample("bybit_tickers.jsonl", 3))
    assert funding is not None
    assert (funding.mark_price, funding.next_funding_ms, funding.index_price) == (None, None, None)
    assert oi is None  # inverse OI in USD cannot become base units without a mark price
    assert [reason for reason, _ in adapter.drain_issues()] == ["no_price"]


def test_delta_without_funding_or_oi_fields_emits_nothing() -> None:
    adapter = BybitAdapter()
    adapter.parse(sample("bybit_tickers.jsonl", 4), RECV)
    delta = (
        '{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","bid1Price":"28550.70"},"cs":1,"ts":2}'
    )
    assert adapter.parse(delta, RECV) == []


def test_a_bad_delta_leaves_the_snapshot_intact() -> None:
    adapter = BybitAdapter()
    adapter.parse(sample("bybit_tickers.jsonl", 4), RECV)
    bad = (
        '{"topic":"tickers.BTCUSDT","type":"delta",'
        '"data":{"symbol":"BTCUSDT","markPrice":"oops","openInterest":"1"},"ts":2}'
    )
    with pytest.raises(ParseError):
        adapter.parse(bad, RECV)
    good = '{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","openInterest":"100"},"ts":3}'
    _, oi = ticker_events(adapter, good)
    assert oi is not None
    assert oi.oi_usd == pytest.approx(50 * 28552.81)  # 100 / 2 at the snapshot's mark


def test_single_open_interest_is_preferred_over_half_of_both_sides() -> None:
    frame = {
        "topic": "tickers.ETHUSDT",
        "type": "snapshot",
        "ts": 1781000000000,
        "data": {
            "symbol": "ETHUSDT",
            "markPrice": "2000",
            "openInterest": "61000",
            "singleOpenInterest": "30000",
            "fundingRate": "0.0001",
            "fundingIntervalHour": "4",
        },
    }
    funding, oi = ticker_events(BybitAdapter(), orjson.dumps(frame).decode())
    assert funding is not None
    assert oi is not None
    assert (oi.oi_base, oi.oi_usd) == (30000.0, 30000.0 * 2000)
    assert funding.interval_h == 4.0
    assert funding.rate_8h == pytest.approx(0.0002)  # 0.0001 per 4 h × 8/4


def test_instrument_funding_interval_is_used_when_the_ticker_has_none() -> None:
    frame = (
        '{"topic":"tickers.PIPPINUSDT","type":"snapshot","ts":5,"data":{"symbol":"PIPPINUSDT","fundingRate":"-0.0005"}}'
    )
    funding, _ = ticker_events(loaded(), frame)
    assert funding is not None
    assert funding.interval_h == 1.0  # fundingInterval 60 minutes
    assert funding.rate_8h == pytest.approx(-0.004)


def test_futures_ticker_with_empty_funding_gives_only_open_interest() -> None:
    frame = (
        '{"topic":"tickers.BTCUSDT-27MAR26","type":"snapshot","ts":5,"data":{"symbol":"BTCUSDT-27MAR26",'
        '"fundingRate":"","nextFundingTime":"0","markPrice":"70000","openInterest":"10"}}'
    )
    events = loaded().parse(frame, RECV)
    assert [type(e) for e in events] == [OpenInterest]
    assert events[0].oi_usd == pytest.approx(5 * 70000)  # type: ignore[union-attr]


# -- instruments, control frames, bad input ----------------------------------------------------
def test_instruments() -> None:
    adapter = BybitAdapter()
    linear = adapter.load_instruments(
        "/v5/market/instruments-info?category=linear", (FIXTURES / "instruments/bybit_linear.json").read_bytes()
    )
    inverse = adapter.load_instruments(
        "/v5/market/instruments-info?category=inverse", (FIXTURES / "instruments/bybit_inverse.json").read_bytes()
    )
    assert (linear, inverse) == (6, 3)  # OLDUSDT is Closed
    btcusd = adapter.instruments.get("BTCUSD")
    assert btcusd is not None
    assert (btcusd.contract, btcusd.size_unit, btcusd.funding_interval_h) == ("inverse", "usd", 8.0)
    future = adapter.instruments.get("BTCUSDH26")
    assert future is not None
    assert (future.perpetual, future.funding_interval_h) == (False, None)
    rose = adapter.instruments.get("ROSEUSDT")
    assert rose is not None
    assert rose.funding_interval_h == 4.0  # 240 minutes


def test_refused_instrument_request() -> None:
    adapter = BybitAdapter()
    body = '{"retCode":10001,"retMsg":"params error","result":{},"time":1}'
    assert adapter.load_instruments("/v5/market/instruments-info?category=linear", body) == 0
    assert adapter.drain_issues()[0][0] == "rest_error"


@pytest.mark.parametrize(
    "frame",
    [
        '{"success":true,"ret_msg":"pong","conn_id":"abc","req_id":"","op":"ping"}',
        '{"success":true,"ret_msg":"subscribe","conn_id":"abc","req_id":"liqmon-1","op":"subscribe"}',
    ],
)
def test_control_frames(frame: str) -> None:
    adapter = BybitAdapter()
    assert adapter.parse(frame, RECV) == []
    assert adapter.drain_issues() == []


def test_refused_subscription_is_reported() -> None:
    adapter = BybitAdapter()
    frame = '{"success":false,"ret_msg":"error:handler not found,topic:foo.BTCUSDT","conn_id":"x","op":"subscribe"}'
    assert adapter.parse(frame, RECV) == []
    assert adapter.drain_issues()[0][0] == "subscription_rejected"


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{not json", "json"),
        ('{"type":"snapshot","data":[]}', "schema"),
        ('{"topic":"orderbook.50.BTCUSDT","data":{}}', "unknown_channel"),
        ('{"topic":"allLiquidation.X","data":{"s":"X"}}', "schema"),
        ('{"topic":"allLiquidation.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Hold","v":"1","p":"1"}]}', "value"),
        ('{"topic":"allLiquidation.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"0"}]}', "implausible"),
        ('{"topic":"allLiquidation.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"-1","p":"5"}]}', "value"),
        ('{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","fundingRate":"x"}}', "value"),
        ('"just a string"', "schema"),
    ],
)
def test_unreadable_frames_raise_parse_error(frame: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        BybitAdapter().parse(frame, RECV)
    assert info.value.reason == reason


# -- subscriptions -----------------------------------------------------------------------------
def test_connections_route_inverse_symbols_to_the_inverse_endpoint() -> None:
    conns = BybitAdapter().connections(["BTCUSDT", "BTCUSD", "ETHUSDT", "XRPUSD", "BTCUSDH26"])
    assert [(c.url, c.symbols, c.bases) for c in conns] == [
        ("wss://stream.bybit.com/v5/public/linear", ("BTCUSDT", "ETHUSDT"), ("BTC", "ETH")),
        ("wss://stream.bybit.com/v5/public/inverse", ("BTCUSD", "XRPUSD", "BTCUSDH26"), ("BTC", "XRP")),
    ]
    [message] = conns[0].subscribe
    assert orjson.loads(message)["args"] == [
        "allLiquidation.BTCUSDT",
        "tickers.BTCUSDT",
        "allLiquidation.ETHUSDT",
        "tickers.ETHUSDT",
    ]
    assert orjson.loads(message)["op"] == "subscribe"


def test_connections_keep_args_under_21000_characters() -> None:
    symbols = [f"LONGNAMEDCOIN{i:05d}USDT" for i in range(600)]
    conns = BybitAdapter().connections(symbols, ws_url="ws://127.0.0.1:7000")
    assert len(conns) > 1
    covered = []
    for conn in conns:
        assert conn.url == "ws://127.0.0.1:7000/v5/public/linear"
        args = orjson.loads(conn.subscribe[0])["args"]
        assert len(orjson.dumps(args)) < 21_000
        assert len(args) <= BybitAdapter.max_subscriptions_per_connection
        covered.extend(conn.symbols)
    assert covered == symbols


def test_all_symbols_means_every_perpetual_in_the_book() -> None:
    conns = loaded().connections([])
    assert sorted(s for c in conns for s in c.symbols) == [
        "BTCPERP",
        "BTCUSD",
        "BTCUSDT",
        "GALAUSDT",
        "PIPPINUSDT",
        "ROSEUSDT",
        "XRPUSD",
    ]


def test_declarations() -> None:
    assert BybitAdapter.keepalive.mode == "client_ping"
    assert orjson.loads(BybitAdapter().ping_payload() or "") == {"op": "ping"}
    assert BybitAdapter.keepalive.interval_s == 20.0
    assert BybitAdapter.keepalive.drop_after_s == 600.0
    assert BybitAdapter.liveness_timeout_s > BybitAdapter.keepalive.interval_s


def test_instrument_body_is_read_whatever_the_path_label() -> None:
    adapter = BybitAdapter()
    assert adapter.load_instruments("instruments", (FIXTURES / "instruments/bybit_inverse.json").read_bytes()) == 3


# -- frames shaped like live traffic: the one typed reader takes each, or refuses it with a bounded reason ----
LIVE_FRAMES = [
    *lines("bybit_allLiquidation.jsonl"),
    *lines("bybit_liquidation.jsonl"),
    *lines("bybit_tickers.jsonl"),
    '{"topic":"tickers.ROSEUSDT","type":"snapshot","data":{"symbol":"ROSEUSDT","markPrice":"0.045",'
    '"indexPrice":"0.0451","openInterest":"1000","fundingRate":"0.0001","nextFundingTime":"1739520000000",'
    '"fundingIntervalHour":"4"},"cs":1,"ts":1739502303204}',
    '{"topic":"tickers.ROSEUSDT","type":"delta","data":{"symbol":"ROSEUSDT","markPrice":"0.046",'
    '"openInterest":"1010"},"cs":2,"ts":1739502303304}',
    '{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","fundingRate":"-0.0001"},"cs":3,'
    '"ts":1739502303404}',
    '{"success":true,"ret_msg":"pong","conn_id":"abc","req_id":"","op":"ping"}',
]


def test_live_shapes_give_events_or_a_bounded_parse_error() -> None:
    check_live_frames(loaded(), LIVE_FRAMES, RECV)
