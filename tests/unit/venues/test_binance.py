"""Binance USD-M adapter: documented and recorded samples, instruments, subscriptions, bad input."""

from __future__ import annotations

import orjson
import pytest

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.binance import BinanceAdapter
from tests.conftest import FIXTURES, SAMPLES
from tests.unit.venues.live import check_live_frames


def combined(stream: str, line: str) -> str:
    return '{"stream":"' + stream + '","data":' + line + "}"


def lines(name: str) -> list[str]:
    return [line for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


RECV = 1_738_771_200_000


def sample(name: str, line: int) -> str:
    return (SAMPLES / name).read_text().splitlines()[line]


def loaded() -> BinanceAdapter:
    adapter = BinanceAdapter()
    for name, path in (
        ("binance_exchangeInfo.json", "/fapi/v1/exchangeInfo"),
        ("binance_fundingInfo.json", "/fapi/v1/fundingInfo"),
    ):
        adapter.load_instruments(path, (FIXTURES / "instruments" / name).read_bytes())
    return adapter


@pytest.mark.parametrize(
    ("line", "price", "qty", "notional", "ts"),
    [
        # SELL order ⇒ a long was liquidated; 0.014 BTC × 9910 = 138.74 USD
        (0, 9910.0, 0.014, 0.014 * 9910, 1568014460893),
        # fills at the average price ap: 0.115 BTC × 26245.10 = 3018.1865 USD
        (1, 26245.10, 0.115, 3018.1865, 1695714031881),
        # 0.288 BTC × 39021.00 = 11238.048 USD
        (2, 39021.0, 0.288, 11238.048, 1650898329196),
    ],
)
def test_force_order_samples(line: int, price: float, qty: float, notional: float, ts: int) -> None:
    [event] = BinanceAdapter().parse(sample("binance_forceOrder.jsonl", line), RECV)
    assert isinstance(event, Liquidation)
    assert (event.venue, event.symbol, event.base, event.quote, event.contract) == (
        "binance",
        "BTCUSDT",
        "BTC",
        "USDT",
        "linear",
    )
    assert event.side == "long"
    assert event.price == pytest.approx(price)
    assert event.qty_base == pytest.approx(qty)
    assert event.notional_usd == pytest.approx(notional)
    assert event.ts_ms == ts  # o.T, the trade time
    assert event.recv_ms == RECV


def test_buy_order_is_a_short_liquidation_and_unfilled_order_uses_q_and_p() -> None:
    frame = {
        "e": "forceOrder",
        "E": 1,
        "o": {"s": "ETHUSDT", "S": "BUY", "q": "2", "p": "3000", "ap": "0", "z": "0", "T": 1700000000000},
    }
    [event] = BinanceAdapter().parse(orjson.dumps(frame), RECV)
    assert isinstance(event, Liquidation)
    assert event.side == "short"
    # nothing filled: original qty × order price, 2 ETH × 3000 = 6000 USD
    assert (event.qty_base, event.price, event.notional_usd) == (2.0, 3000.0, 6000.0)


def test_combined_stream_wrapper_gives_the_same_event_as_the_raw_stream() -> None:
    raw = sample("binance_forceOrder.jsonl", 0)
    wrapped = '{"stream":"!forceOrder@arr","data":' + raw + "}"
    adapter = BinanceAdapter()
    assert adapter.parse(wrapped, RECV) == adapter.parse(raw, RECV)


@pytest.mark.parametrize(
    ("frame", "reason", "message"),
    [
        (combined("x", '{"e":"forceOrder"}'), "schema", "Object missing required field `o`"),
        (combined("x", '{"e":"kline","k":{}}'), "schema", "Invalid value 'kline' - at `$.e`"),
        (
            combined("x", '{"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","q":"abc","p":"5","T":1}}'),
            "value",
            "`$.o.q`",
        ),
        (combined("x", "[1]"), "schema", "Expected `object`, got `int` - at `$[0]`"),
        ('{"stream":"x"}', "schema", "Object missing required field `e`"),
        ('{"stream":5,"data":{}}', "schema", "Expected `str`, got `int` - at `$.stream`"),
        ('{"stream":"x","data":{"e":"forceOrder"}', "json", "frame is not JSON"),
    ],
)
def test_a_combined_frame_the_one_pass_reader_refuses_is_reported_as_its_payload_alone_would_be(
    frame: str, reason: str, message: str
) -> None:
    # Combined frames decode wrapper and payload in one pass; one that does not fit is read again wrapper
    # first, so its error (reason, and the path within the payload) is what it always was.
    with pytest.raises(ParseError) as info:
        BinanceAdapter().parse(frame, RECV)
    assert info.value.reason == reason
    assert message in str(info.value)


def test_resent_frame_keeps_its_id_and_another_liquidation_gets_another() -> None:
    adapter = BinanceAdapter()
    first = adapter.parse(sample("binance_forceOrder.jsonl", 0), RECV)[0]
    again = adapter.parse(sample("binance_forceOrder.jsonl", 0), RECV + 5000)[0]
    other = adapter.parse(sample("binance_forceOrder.jsonl", 1), RECV)[0]
    assert first.id == again.id
    assert first.id != other.id


@pytest.mark.parametrize(
    ("line", "rate", "mark"),
    [
        (0, 0.00038167, 11794.15),
        (1, 0.00038167, 11794.15),
        (2, 0.0003, 11185.87786614),  # all-market array form
    ],
)
def test_mark_price_samples(line: int, rate: float, mark: float) -> None:
    [event] = BinanceAdapter().parse(sample("binance_markPrice.jsonl", line), RECV)
    assert isinstance(event, Funding)
    assert event.symbol == "BTCUSDT"
    assert event.rate == pytest.approx(rate)
    assert event.interval_h == 8.0  # no fundingInfo entry: the default 8 h
    assert event.rate_8h == pytest.approx(rate)  # rate × 8 / 8
    assert event.mark_price == pytest.approx(mark)
    assert event.index_price == pytest.approx(11784.62659091)
    assert event.next_funding_ms == 1562306400000
    assert event.ts_ms == 1562305380000


def test_adjusted_funding_interval_comes_from_funding_info() -> None:
    frame = (
        '{"e":"markPriceUpdate","E":1738771200000,"s":"BLZUSDT","p":"0.05","i":"0.05","r":"-0.0012","T":1738782000000}'
    )
    [event] = loaded().parse(frame, RECV)
    assert isinstance(event, Funding)
    assert event.interval_h == 4.0
    assert event.rate_8h == pytest.approx(-0.0024)  # -0.0012 per 4 h × 8/4


def test_funding_info_applies_whatever_the_load_order() -> None:
    adapter = BinanceAdapter()
    adapter.load_instruments("/fapi/v1/fundingInfo", (FIXTURES / "instruments/binance_fundingInfo.json").read_bytes())
    adapter.load_instruments("/fapi/v1/exchangeInfo", (FIXTURES / "instruments/binance_exchangeInfo.json").read_bytes())
    blz = adapter.instruments.get("BLZUSDT")
    assert blz is not None
    assert blz.funding_interval_h == 4.0


def test_exchange_info_instruments() -> None:
    adapter = BinanceAdapter()
    count = adapter.load_instruments(
        "/fapi/v1/exchangeInfo", (FIXTURES / "instruments/binance_exchangeInfo.json").read_bytes()
    )
    assert count == 5  # SRMUSDT is SETTLING and skipped
    assert adapter.instruments.perpetuals() == ["BLZUSDT", "BTCUSDC", "BTCUSDT", "ETHUSDT"]
    quarter = adapter.instruments.get("BTCUSDT_260327")
    assert quarter is not None
    assert (quarter.perpetual, quarter.funding_interval_h, quarter.size_unit) == (False, None, "base")
    assert adapter.drain_issues() == []


def test_delivery_contract_without_funding_gives_nothing() -> None:
    frame = '{"e":"markPriceUpdate","E":1,"s":"BTCUSDT_260327","p":"70000","i":"69900","r":"","T":0}'
    assert BinanceAdapter().parse(frame, RECV) == []


def test_open_interest_rest_sample_before_and_after_a_mark_price() -> None:
    adapter = BinanceAdapter()
    body = sample("binance_openInterest_rest.jsonl", 0)
    path = "/fapi/v1/openInterest?symbol=BTCUSDT"
    [before] = adapter.parse_rest(path, body, RECV)
    assert isinstance(before, OpenInterest)
    assert before.oi_base == pytest.approx(10659.509)  # base units, one side
    assert before.oi_usd is None  # no price seen yet
    assert before.ts_ms == 1589437530011
    adapter.parse(sample("binance_markPrice.jsonl", 0), RECV)
    [after] = adapter.parse_rest(path, body, RECV)
    assert isinstance(after, OpenInterest)
    assert after.oi_usd == pytest.approx(10659.509 * 11794.15)  # ≈ 125.72 M USD at the latest mark
    assert after.id == before.id


def test_rest_error_body_is_an_issue_not_an_event() -> None:
    adapter = BinanceAdapter()
    assert adapter.parse_rest("/fapi/v1/openInterest?symbol=NOPE", '{"code":-1121,"msg":"Invalid symbol."}', RECV) == []
    assert [reason for reason, _ in adapter.drain_issues()] == ["rest_error"]


@pytest.mark.parametrize("frame", ['{"result":null,"id":1}', '{"result":["!forceOrder@arr"],"id":2}'])
def test_subscribe_responses_are_control_frames(frame: str) -> None:
    assert BinanceAdapter().parse(frame, RECV) == []


def test_refused_request_is_reported() -> None:
    adapter = BinanceAdapter()
    assert adapter.parse('{"error":{"code":2,"msg":"Invalid request"},"id":3}', RECV) == []
    assert adapter.drain_issues()[0][0] == "subscription_rejected"


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "json"),
        ('{"e":"forceOrder"}', "schema"),
        ('{"e":"kline","k":{}}', "unknown_channel"),
        ('{"e":"forceOrder","o":{"s":"BTCUSDT","S":"HOLD","q":"1","p":"1","T":1}}', "value"),
        ('{"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","q":"1","p":"-5","T":1}}', "value"),
        ('{"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","q":"abc","p":"5","T":1}}', "value"),
        ('{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","r":"0.1","E":-4}', "value"),
        ("[1, 2]", "schema"),
    ],
)
def test_unreadable_frames_raise_parse_error(frame: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        BinanceAdapter().parse(frame, RECV)
    assert info.value.reason == reason


def test_all_market_connection_uses_the_routed_market_path() -> None:
    [conn] = BinanceAdapter().connections([])
    assert conn.url == "wss://fstream.binance.com/market/stream?streams=!forceOrder@arr/!markPrice@arr@1s"
    assert conn.bases == ()  # covers every asset


def test_per_symbol_streams_split_at_200_per_connection() -> None:
    symbols = [f"C{i}USDT" for i in range(250)]
    conns = BinanceAdapter().connections(symbols, ws_url="ws://127.0.0.1:9001/")
    assert [len(c.symbols) for c in conns] == [100, 100, 50]
    for conn in conns:
        assert conn.url.startswith("ws://127.0.0.1:9001/market/stream?streams=")
        streams = conn.url.split("=", 1)[1].split("/")
        assert len(streams) == 2 * len(conn.symbols) <= 200
        assert conn.bases == tuple(sorted(s.removesuffix("USDT") for s in conn.symbols))
    assert conns[0].url.split("=", 1)[1].startswith("c0usdt@forceOrder/c0usdt@markPrice@1s/c1usdt@forceOrder")


def test_open_interest_polls_pace_to_the_weight_budget() -> None:
    adapter = loaded()
    [poll] = adapter.rest_polls(["BTCUSDT"])
    assert (poll.path, poll.weight, poll.symbols, poll.interval_s) == (
        "/fapi/v1/openInterest?symbol=BTCUSDT",
        1,
        ("BTCUSDT",),
        20.0,
    )
    every = adapter.rest_polls([])
    assert [p.symbols[0] for p in every] == ["BLZUSDT", "BTCUSDC", "BTCUSDT", "ETHUSDT"]
    many = adapter.rest_polls([f"C{i}USDT" for i in range(1000)])
    assert many[0].interval_s == 100.0  # 1000 polls × weight 1 spread over 100 s = 600 weight/min


def test_declarations() -> None:
    assert BinanceAdapter.keepalive.mode == "server_ping"
    assert BinanceAdapter.keepalive.drop_after_s == 600.0
    assert BinanceAdapter.max_connection_age_s == 86400.0
    assert BinanceAdapter.max_subscriptions_per_connection == 200
    assert BinanceAdapter().ping_payload() is None


def test_rest_adapter_sees_marks_from_a_stream_adapter_on_the_same_book() -> None:
    streams = loaded()
    poller = BinanceAdapter(streams.instruments)  # the collector's REST adapter shares the book
    streams.parse(sample("binance_markPrice.jsonl", 0), RECV)
    body = sample("binance_openInterest_rest.jsonl", 0)
    [event] = poller.parse_rest("/fapi/v1/openInterest?symbol=BTCUSDT", body, RECV)
    assert isinstance(event, OpenInterest)
    assert event.oi_usd == pytest.approx(10659.509 * 11794.15)
    assert (
        BinanceAdapter()
        .parse_rest(  # another book, no marks
            "/fapi/v1/openInterest?symbol=BTCUSDT", sample("binance_openInterest_rest.jsonl", 0), RECV
        )[0]
        .oi_usd
        is None
    )


def test_instrument_bodies_are_recognized_without_their_path() -> None:
    adapter = BinanceAdapter()
    for name in ("binance_fundingInfo.json", "binance_exchangeInfo.json"):
        adapter.load_instruments("instruments", (FIXTURES / "instruments" / name).read_bytes())
    blz = adapter.instruments.get("BLZUSDT")
    assert blz is not None
    assert blz.funding_interval_h == 4.0


# -- frames shaped like live traffic: the one typed reader takes each, or refuses it with a bounded reason ----
LIVE_FRAMES = [
    *lines("binance_forceOrder.jsonl"),
    *lines("binance_markPrice.jsonl"),
    *(combined("btcusdt@forceOrder", line) for line in lines("binance_forceOrder.jsonl")),
    *(combined("btcusdt@markPrice@1s", line) for line in lines("binance_markPrice.jsonl")),
    combined(
        "!markPrice@arr@1s",
        '[{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15","i":"11784.6","r":"0.0001",'
        '"T":1562306400000},{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT_250627","p":"11800.1",'
        '"i":"11784.6","r":"","T":0},{"e":"markPriceUpdate","E":1562305380000,"s":"DOGEUSDT","p":"0.1",'
        '"i":"0.1","r":"-0.00002","T":1562306400000}]',
    ),
    combined(
        "!forceOrder@arr",
        '{"e":"forceOrder","E":1700000000001,"o":{"s":"DOGEUSDT","S":"BUY","o":"LIMIT","f":"IOC","q":"120",'
        '"p":"0.081","ap":"0","X":"FILLED","l":"120","z":"0","T":1700000000000}}',
    ),
    '{"result":null,"id":1}',
]


def test_live_shapes_give_events_or_a_bounded_parse_error() -> None:
    check_live_frames(loaded(), LIVE_FRAMES, RECV)
