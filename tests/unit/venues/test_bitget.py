"""Bitget parser: v2/UTA tickers and UTA liquidations worked out by hand, subscriptions on two URLs."""

from __future__ import annotations

import orjson
import pytest

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.bitget import BitgetAdapter, product_type, split_bitget
from tests.conftest import FIXTURES, SAMPLES
from tests.unit.venues.live import check_live_frames


def lines(name: str) -> list[str]:
    return [line for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


RECV = 1_770_292_812_345
INSTRUMENTS = FIXTURES / "instruments"
USDT_PATH = "/api/v2/mix/market/contracts?productType=USDT-FUTURES"
COIN_PATH = "/api/v2/mix/market/contracts?productType=COIN-FUTURES"


def sample(name: str, line: int) -> str:
    return (SAMPLES / f"{name}.jsonl").read_text().splitlines()[line - 1]


def adapter(*, book: bool = True) -> BitgetAdapter:
    venue = BitgetAdapter()
    if book:
        assert venue.load_instruments(USDT_PATH, (INSTRUMENTS / "bitget_usdt_contracts.json").read_bytes()) == 3
        assert venue.load_instruments(COIN_PATH, (INSTRUMENTS / "bitget_coin_contracts.json").read_bytes()) == 2
    return venue


# -- UTA liquidation --------------------------------------------------------------------------


def test_docs_liquidation() -> None:
    (liq,) = adapter().parse(sample("bitget_liquidation", 1), RECV)
    assert isinstance(liq, Liquidation)
    assert (liq.symbol, liq.base, liq.quote, liq.contract) == ("BTCUSDT", "BTC", "USDT", "linear")
    assert liq.side == "long"  # side is the position side: buy = long liquidated
    assert liq.price == pytest.approx(89000)
    # amount is quote currency: 37.722858 USDT / 89000 USDT per BTC = 0.00042385 BTC
    assert liq.qty_base == pytest.approx(0.00042385233707865173, rel=1e-9)
    assert liq.notional_usd == pytest.approx(37.722858)
    assert liq.ts_ms == 1_736_371_332_162  # row ts
    assert liq.recv_ms == RECV


def test_recorded_liquidation_batch() -> None:
    ape, ip = adapter().parse(sample("bitget_liquidation", 2), RECV)
    assert isinstance(ape, Liquidation)
    assert isinstance(ip, Liquidation)
    # 13.70319 USDT / 0.1649 USDT per APE = 83.1 APE
    assert (ape.symbol, ape.base, ape.side) == ("APEUSDT", "APE", "long")
    assert ape.qty_base == pytest.approx(83.1, rel=1e-9)
    assert ape.notional_usd == pytest.approx(13.70319)
    assert ape.ts_ms == 1_777_358_886_549
    # 143.330431857868 USDT / 0.500280739469 USDT per IP = 286.5 IP (not in the book: split from the name)
    assert (ip.symbol, ip.base, ip.quote) == ("IPUSDT", "IP", "USDT")
    assert ip.qty_base == pytest.approx(286.5, rel=1e-9)
    assert ip.notional_usd == pytest.approx(143.330431857868)
    assert ip.ts_ms == 1_777_358_876_983  # batches are not time-ordered


def test_sell_side_is_a_short_liquidation_and_coin_futures_are_inverse() -> None:
    frame = (
        '{"data":[{"symbol":"BTCUSD","side":"sell","price":"70000","amount":"3500","ts":"1770292811000"}],'
        '"arg":{"instType":"coin-futures","topic":"liquidation"},"action":"update","ts":1770292812000}'
    )
    (liq,) = adapter().parse(frame, RECV)
    assert isinstance(liq, Liquidation)
    assert (liq.side, liq.contract, liq.quote) == ("short", "inverse", "USD")
    assert liq.qty_base == pytest.approx(0.05)  # 3500 USD / 70000
    assert liq.notional_usd == pytest.approx(3500)


# -- tickers ----------------------------------------------------------------------------------


def test_docs_v2_ticker() -> None:
    funding, oi = adapter().parse(sample("bitget_ticker", 1), RECV)
    assert isinstance(funding, Funding)
    assert (funding.symbol, funding.base, funding.contract) == ("BTCUSDT", "BTC", "linear")
    assert funding.rate == pytest.approx(0.00001)
    assert funding.interval_h == 8.0  # fundInterval "8"
    assert funding.rate_8h == pytest.approx(0.00001)
    assert funding.next_funding_ms == 1_695_722_400_000
    assert funding.mark_price == pytest.approx(27000.0)
    assert funding.index_price == pytest.approx(25702.4)
    assert funding.ts_ms == 1_695_715_383_021  # row ts
    assert isinstance(oi, OpenInterest)
    assert oi.oi_base == pytest.approx(929.502)  # holdingAmount, BTC
    assert oi.oi_usd == pytest.approx(25096554.0)  # 929.502 BTC × 27000
    assert oi.ts_ms == 1_695_715_383_021


def test_recorded_v2_ticker_uses_the_contract_funding_interval() -> None:
    funding, oi = adapter().parse(sample("bitget_ticker", 2), RECV)
    assert isinstance(funding, Funding)
    assert isinstance(oi, OpenInterest)
    assert funding.rate == pytest.approx(0.0001)
    assert funding.interval_h == 4.0  # STORJUSDT fundInterval "4"
    assert funding.rate_8h == pytest.approx(0.0002)  # 0.0001 per 4 h × 2
    assert funding.next_funding_ms == 1_730_361_600_000
    assert funding.ts_ms == 1_730_332_823_155
    assert oi.oi_base == pytest.approx(8572031.1)
    # 8572031.1 STORJ × 0.4705 = 4033140.63 USD
    assert oi.oi_usd == pytest.approx(4033140.63255, rel=1e-9)


def test_recorded_delivery_ticker_has_open_interest_but_no_funding() -> None:
    (oi,) = adapter().parse(sample("bitget_ticker", 3), RECV)
    assert isinstance(oi, OpenInterest)
    assert (oi.symbol, oi.base, oi.quote, oi.contract) == ("BTCUSDZ24", "BTC", "USD", "inverse")
    assert oi.oi_base == pytest.approx(57.714)
    assert oi.oi_usd == pytest.approx(4255357.1052)  # 57.714 BTC × 73731.8
    assert oi.ts_ms == 1_730_332_823_217


def test_recorded_uta_ticker() -> None:
    funding, oi = adapter().parse(sample("bitget_ticker", 4), RECV)
    assert isinstance(funding, Funding)
    assert isinstance(oi, OpenInterest)
    assert funding.symbol == "BTCUSDT"  # from arg.symbol
    assert funding.rate == pytest.approx(-0.00003)
    assert funding.interval_h == 8.0
    assert funding.rate_8h == pytest.approx(-0.00003)
    assert funding.next_funding_ms == 1_777_363_200_000
    assert funding.mark_price == pytest.approx(76631.3)
    assert funding.index_price == pytest.approx(76671.4381686055379793)
    assert funding.ts_ms == 1_777_358_880_084  # envelope ts: the row has none
    assert oi.oi_base == pytest.approx(29539.3825)  # openInterest, BTC
    # 29539.3825 BTC × 76631.3 = 2263641282.17 USD
    assert oi.oi_usd == pytest.approx(2263641282.1722503, rel=1e-9)


def test_ticker_without_book_defaults_to_eight_hours() -> None:
    funding, _ = adapter(book=False).parse(sample("bitget_ticker", 2), RECV)
    assert isinstance(funding, Funding)
    assert funding.interval_h == 8.0
    assert funding.rate_8h == pytest.approx(0.0001)


# -- control frames, errors, helpers, subscriptions -------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "pong",
        b"pong",
        '{"event":"subscribe","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"}}',
        '{"event":"subscribe","arg":{"instType":"usdt-futures","topic":"liquidation"}}',
    ],
)
def test_control_frames_give_nothing(frame: str | bytes) -> None:
    venue = adapter()
    assert venue.parse(frame, RECV) == []
    assert venue.drain_issues() == []


def test_error_event_is_an_issue() -> None:
    venue = adapter()
    frame = (
        '{"event":"error","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"XXX"},'
        '"code":30001,"msg":"instType:USDT-FUTURES,channel:ticker,instId:XXX doesn\'t exist"}'
    )
    assert venue.parse(frame, RECV) == []
    assert [r for r, _ in venue.drain_issues()] == ["venue_error"]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("ping", "json"),
        ("[]", "schema"),
        ('{"arg":{"instType":"usdt-futures","topic":"trade"},"data":[]}', "unknown_channel"),
        ('{"arg":{"instType":"usdt-futures","topic":"liquidation"},"data":{}}', "schema"),
        ('{"arg":{"topic":"liquidation"},"data":[]}', "schema"),
        (
            '{"arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[{"symbol":"BTCUSDT","side":"long",'
            '"price":"1","amount":"1"}]}',
            "value",
        ),
        (
            '{"arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[{"symbol":"BTCUSDT","side":"buy",'
            '"price":"0","amount":"1"}]}',
            "implausible",  # a liquidation is a fill: price 0 breaks the event's rule, as on every venue
        ),
        (
            '{"arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[{"symbol":"BTC-USDT","side":"buy",'
            '"price":"1","amount":"1"}]}',
            "unknown_symbol",
        ),
        ('{"arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"},"data":["x"]}', "schema"),
        (
            '{"arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"},"data":[{"fundingRate":"x",'
            '"nextFundingTime":"1"}]}',
            "value",
        ),
    ],
)
def test_garbage_raises_parse_error(frame: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        adapter().parse(frame, RECV)
    assert info.value.reason == reason


def test_symbol_helpers() -> None:
    assert split_bitget("BTCUSDT") == ("BTC", "USDT")
    assert split_bitget("ETHUSDH25") == ("ETH", "USD")
    assert split_bitget("BTCPERP") == ("BTC", "USDC")
    assert [product_type(s) for s in ("BTCUSDT", "BTCPERP", "BTCUSD", "BTCUSDZ24")] == [
        "USDT-FUTURES",
        "USDC-FUTURES",
        "COIN-FUTURES",
        "COIN-FUTURES",
    ]


def test_instruments_come_from_three_product_types() -> None:
    venue = adapter()
    assert [r.path for r in venue.instrument_requests()] == [
        "/api/v2/mix/market/contracts?productType=USDT-FUTURES",
        "/api/v2/mix/market/contracts?productType=COIN-FUTURES",
        "/api/v2/mix/market/contracts?productType=USDC-FUTURES",
    ]
    delivery = venue.instruments.get("BTCUSDZ24")
    assert delivery is not None
    assert (delivery.perpetual, delivery.contract) == (False, "inverse")
    assert venue.instruments.perpetuals() == ["APEUSDT", "BTCUSD", "BTCUSDT", "STORJUSDT"]
    with pytest.raises(ParseError):
        venue.load_instruments(USDT_PATH, b'{"code":"40034","msg":"param error","data":null}')


def test_tickers_and_liquidations_use_two_urls() -> None:
    ticker, liquidation = adapter().connections(["BTCUSDT", "BTCUSD"])
    assert ticker.url == "wss://ws.bitget.com/v2/ws/public"
    assert orjson.loads(ticker.subscribe[0]) == {
        "op": "subscribe",
        "args": [
            {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "BTCUSDT"},
            {"instType": "COIN-FUTURES", "channel": "ticker", "instId": "BTCUSD"},
        ],
    }
    assert ticker.bases == ("BTC",)
    assert liquidation.url == "wss://ws.bitget.com/v3/ws/public"
    assert orjson.loads(liquidation.subscribe[0])["args"] == [
        {"instType": "coin-futures", "topic": "liquidation"},
        {"instType": "usdt-futures", "topic": "liquidation"},
    ]
    assert liquidation.bases == ()


def test_many_symbols_are_split_across_connections_and_frames() -> None:
    symbols = [f"C{i}USDT" for i in range(120)]
    conns = adapter(book=False).connections(symbols, "ws://127.0.0.1:9")
    tickers = [c for c in conns if c.url.endswith("/v2/ws/public")]
    assert [len(c.symbols) for c in tickers] == [50, 50, 20]
    assert all(c.url == "ws://127.0.0.1:9/v2/ws/public" for c in tickers)
    assert conns[-1].url == "ws://127.0.0.1:9/v3/ws/public"
    # at most 25 args per frame keeps each request well under Bitget's 4096-byte limit
    assert [len(orjson.loads(f)["args"]) for f in tickers[0].subscribe] == [25, 25]
    assert all(len(f) < 4096 for c in conns for f in c.subscribe)


def test_declarations() -> None:
    assert BitgetAdapter.keepalive.payload == "ping"
    # Inside both the 2-minute cut-off and the 30 s one older copies of Bitget's page give.
    assert BitgetAdapter.keepalive.interval_s < 30.0
    assert BitgetAdapter.keepalive.drop_after_s == 120.0
    assert BitgetAdapter.max_connection_age_s == 24 * 3600.0
    assert BitgetAdapter.max_subscriptions_per_connection <= 50
    assert BitgetAdapter.liveness_timeout_s > BitgetAdapter.keepalive.interval_s


# -- frames shaped like live traffic: the one typed reader takes each, or refuses it with a bounded reason ----
LIVE_FRAMES = [
    *lines("bitget_liquidation.jsonl"),
    *lines("bitget_ticker.jsonl"),
    '{"action":"snapshot","arg":{"instType":"USDC-FUTURES","channel":"ticker","instId":"BTCPERP"},"data":[{'
    '"fundingRate":"0.0001","nextFundingTime":1770307200000,"markPrice":"70000","indexPrice":"69990",'
    '"holdingAmount":"12.5","symbolType":1,"ts":1770292800000}]}',
    '{"action":"snapshot","arg":{"instType":"usdt-futures","topic":"ticker","symbol":"ETHUSDT"},"data":[{'
    '"instId":"","symbol":"ETHUSDT","fundingRate":"","nextFundingTime":"","markPrice":"1900",'
    '"openInterest":"1000"}],"ts":1770292800000}',
    '{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"},"data":[{'
    '"symbol":"STORJUSDT","fundingRate":"0.0001","nextFundingTime":"1730361600000","markPrice":"0.47"}]}',
    '{"action":"snapshot","arg":{"instType":"COIN-FUTURES","channel":"ticker","instId":"ETHUSDH25"},"data":[{'
    '"instId":"ETHUSDH25","fundingRate":"0","nextFundingTime":"1770307200000","markPrice":"1900",'
    '"holdingAmount":null,"symbolType":"delivery"}]}',
    '{"action":"update","arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[{"symbol":"NOSUCHUSDT",'
    '"side":"sell","price":"2","amount":"10"},{"symbol":"BTCUSDT","side":"buy","price":"0","amount":"10",'
    '"ts":"1777358886549"}],"ts":1777358897167}',
    '{"action":"update","arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[]}',
    '{"event":"subscribe","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"}}',
    '{"event":"error","code":30001,"msg":"instType:USDT-FUTURES,channel:ticker,instId:NOPE doesn\'t exist"}',
    "pong",
]


def test_live_shapes_give_events_or_a_bounded_parse_error() -> None:
    check_live_frames(adapter(), LIVE_FRAMES, RECV)
