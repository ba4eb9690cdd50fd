"""OKX v5 adapter: samples, contract sizes, side rules, funding intervals, subscriptions, bad input."""

from __future__ import annotations

import orjson
import pytest

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.okx import OkxAdapter
from tests.conftest import FIXTURES, SAMPLES

RECV = 1_738_771_200_000


def sample(name: str, line: int = 0) -> str:
    return (SAMPLES / name).read_text().splitlines()[line]


def loaded() -> OkxAdapter:
    adapter = OkxAdapter()
    for kind, name in (("SWAP", "okx_swap.json"), ("FUTURES", "okx_futures.json")):
        adapter.load_instruments(
            f"/api/v5/public/instruments?instType={kind}", (FIXTURES / "instruments" / name).read_bytes()
        )
    return adapter


def liquidation(adapter: OkxAdapter, symbol: str, pos_side: str, side: str, *, sz: str, px: str) -> Liquidation:
    frame = {
        "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
        "data": [
            {
                "instId": symbol,
                "instType": "SWAP",
                "details": [
                    {
                        "bkLoss": "0",
                        "bkPx": px,
                        "ccy": "",
                        "posSide": pos_side,
                        "side": side,
                        "sz": sz,
                        "ts": "1738771199000",
                    }
                ],
            }
        ],
    }
    [event] = adapter.parse(orjson.dumps(frame), RECV)
    assert isinstance(event, Liquidation)
    return event


# -- liquidations ------------------------------------------------------------------------------
def test_linear_swap_liquidation_sample() -> None:
    adapter = loaded()
    [event] = adapter.parse(sample("okx_liquidation-orders.jsonl", 0), RECV)
    assert isinstance(event, Liquidation)
    assert (event.symbol, event.base, event.quote, event.contract) == ("IOST-USDT-SWAP", "IOST", "USDT", "linear")
    assert event.side == "short"  # posSide short
    assert event.price == pytest.approx(0.007831)
    assert event.qty_base == pytest.approx(13000.0)  # 13 contracts × ctVal 1000 IOST × ctMult 1
    assert event.notional_usd == pytest.approx(101.803)  # 13000 IOST × 0.007831
    assert event.ts_ms == 1692266434010
    assert adapter.drain_issues() == []


def test_inverse_futures_liquidation_sample() -> None:
    [event] = loaded().parse(sample("okx_liquidation-orders.jsonl", 1), RECV)
    assert isinstance(event, Liquidation)
    assert (event.symbol, event.base, event.quote, event.contract) == ("XRP-USD-230929", "XRP", "USD", "inverse")
    assert event.side == "short"
    assert event.price == pytest.approx(0.55205)
    # 39 contracts × 10 USD = 390 USD face value; 390 / 0.55205 = 706.46 XRP
    assert event.notional_usd == pytest.approx(390.0)
    assert event.qty_base == pytest.approx(390 / 0.55205)
    assert event.ts_ms == 1680173247614


def test_unknown_contract_gives_no_size_no_notional_and_an_issue() -> None:
    adapter = OkxAdapter()  # no instrument list: ctVal of IOST-USDT-SWAP is unknown
    [event] = adapter.parse(sample("okx_liquidation-orders.jsonl", 0), RECV)
    assert isinstance(event, Liquidation)
    assert (event.side, event.price, event.qty_base, event.notional_usd) == ("short", 0.007831, None, None)
    assert (event.base, event.contract) == ("IOST", "linear")
    [(reason, message)] = adapter.drain_issues()
    assert reason == "unknown_contract"
    # The message names the symbol and where its size should have come from.
    assert message.startswith("okx IOST-USDT-SWAP: contract size unknown")
    assert "/api/v5/public/instruments?instType=SWAP" in message


def test_listed_instrument_without_ct_val_is_unknown_too() -> None:
    adapter = loaded()
    event = liquidation(adapter, "NEW-USDT-SWAP", "long", "sell", sz="5", px="1.5")
    assert event.notional_usd is None
    assert adapter.drain_issues()[0][0] == "unknown_contract"


@pytest.mark.parametrize(
    ("pos_side", "side", "expected"),
    [("long", "sell", "long"), ("short", "buy", "short"), ("net", "sell", "long"), ("net", "buy", "short")],
)
def test_side_rules(pos_side: str, side: str, expected: str) -> None:
    event = liquidation(loaded(), "BTC-USDT-SWAP", pos_side, side, sz="3", px="60000")
    assert event.side == expected
    assert event.qty_base == pytest.approx(0.03)  # 3 × 0.01 BTC
    assert event.notional_usd == pytest.approx(1800.0)  # 0.03 BTC × 60000


def test_inverse_swap_uses_usd_face_value() -> None:
    event = liquidation(loaded(), "BTC-USD-SWAP", "long", "sell", sz="7", px="70000")
    assert event.notional_usd == pytest.approx(700.0)  # 7 × 100 USD
    assert event.qty_base == pytest.approx(0.01)  # 700 / 70000


def test_liquidation_id_is_stable() -> None:
    adapter = loaded()
    first = adapter.parse(sample("okx_liquidation-orders.jsonl", 0), RECV)[0]
    assert adapter.parse(sample("okx_liquidation-orders.jsonl", 0), RECV + 1)[0].id == first.id
    assert adapter.parse(sample("okx_liquidation-orders.jsonl", 1), RECV)[0].id != first.id


# -- funding and open interest -----------------------------------------------------------------
def test_funding_rate_sample() -> None:
    [event] = OkxAdapter().parse(sample("okx_funding-rate.jsonl"), RECV)
    assert isinstance(event, Funding)
    assert (event.symbol, event.base, event.quote, event.contract) == ("BTC-USD-SWAP", "BTC", "USD", "inverse")
    assert event.rate == pytest.approx(0.0001875391284828)
    assert event.interval_h == 8.0  # (1700755200000 − 1700726400000) / 3 600 000
    assert event.rate_8h == pytest.approx(0.0001875391284828)
    assert event.next_funding_ms == 1700726400000  # fundingTime: the settlement this rate applies to
    assert event.ts_ms == 1700724675402
    assert (event.mark_price, event.index_price) == (None, None)


def test_shorter_funding_interval_is_normalized() -> None:
    frame = {
        "arg": {"channel": "funding-rate", "instId": "ETH-USDT-SWAP"},
        "data": [
            {
                "fundingRate": "-0.0003",
                "fundingTime": "1700726400000",
                "nextFundingTime": "1700740800000",
                "instId": "ETH-USDT-SWAP",
                "ts": "1700724000000",
            }
        ],
    }
    [event] = OkxAdapter().parse(orjson.dumps(frame), RECV)
    assert isinstance(event, Funding)
    assert event.interval_h == 4.0  # 14 400 000 ms apart
    assert event.rate_8h == pytest.approx(-0.0006)


def test_funding_without_next_time_falls_back_to_8h() -> None:
    frame = {
        "arg": {"channel": "funding-rate", "instId": "ETH-USDT-SWAP"},
        "data": [
            {
                "fundingRate": "0.0001",
                "fundingTime": "1700726400000",
                "nextFundingTime": "",
                "instId": "ETH-USDT-SWAP",
                "ts": "1700724000000",
            }
        ],
    }
    [event] = OkxAdapter().parse(orjson.dumps(frame), RECV)
    assert isinstance(event, Funding)
    assert event.interval_h == 8.0


def test_open_interest_sample() -> None:
    [event] = OkxAdapter().parse(sample("okx_open-interest.jsonl"), RECV)
    assert isinstance(event, OpenInterest)
    assert event.symbol == "BTC-USDT-SWAP"
    assert event.oi_base == pytest.approx(22161.1301000000309)  # oiCcy = 2216113.01 contracts × 0.01 BTC
    assert event.oi_base == pytest.approx(2216113.01000000309 * 0.01)
    assert event.oi_usd == pytest.approx(1939251795.54769270396321)  # oiUsd as OKX reports it
    assert event.ts_ms == 1743041250440


def test_mark_price_is_remembered_for_contract_only_open_interest() -> None:
    adapter = loaded()
    assert adapter.parse(sample("okx_mark-price.jsonl"), RECV) == []
    mark = (
        '{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},'
        '"data":[{"instId":"BTC-USDT-SWAP","markPx":"70000","ts":"1"}]}'
    )
    assert adapter.parse(mark, RECV) == []
    oi = (
        '{"arg":{"channel":"open-interest","instId":"BTC-USDT-SWAP"},'
        '"data":[{"instId":"BTC-USDT-SWAP","oi":"250","ts":"2"}]}'
    )
    [event] = adapter.parse(oi, RECV)
    assert isinstance(event, OpenInterest)
    assert event.oi_base == pytest.approx(2.5)  # 250 contracts × 0.01 BTC
    assert event.oi_usd == pytest.approx(175000.0)  # 2.5 BTC × 70000


# -- instruments, control frames, bad input ----------------------------------------------------
def test_instruments() -> None:
    adapter = loaded()
    assert len(adapter.instruments) == 7
    assert adapter.instruments.perpetuals() == [
        "BTC-USD-SWAP",
        "BTC-USDT-SWAP",
        "ETH-USDT-SWAP",
        "IOST-USDT-SWAP",
        "NEW-USDT-SWAP",
    ]
    btc_usd = adapter.instruments.get("BTC-USD-SWAP")
    assert btc_usd is not None
    assert (btc_usd.contract, btc_usd.contract_size, btc_usd.base, btc_usd.quote) == ("inverse", 100.0, "BTC", "USD")
    new = adapter.instruments.get("NEW-USDT-SWAP")
    assert new is not None
    assert new.contract_size is None


def test_refused_instrument_request() -> None:
    adapter = OkxAdapter()
    body = '{"code":"50011","msg":"Too Many Requests","data":[]}'
    assert adapter.load_instruments("/api/v5/public/instruments?instType=SWAP", body) == 0
    assert adapter.drain_issues()[0][0] == "rest_error"


@pytest.mark.parametrize(
    "frame",
    [
        "pong",
        b"pong",
        '{"id":"1","event":"subscribe","arg":{"channel":"liquidation-orders","instType":"SWAP"},"connId":"a4d3ae55"}',
        '{"event":"channel-conn-count","channel":"funding-rate","connCount":"2","connId":"abcd1234"}',
    ],
)
def test_control_frames(frame: str | bytes) -> None:
    adapter = OkxAdapter()
    assert adapter.parse(frame, RECV) == []
    assert adapter.drain_issues() == []


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ('{"event":"error","code":"60012","msg":"Invalid request","connId":"a4d3ae55"}', "subscription_rejected"),
        (
            '{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade.",'
            '"connId":"x"}',
            "venue_notice",
        ),
    ],
)
def test_errors_and_notices_are_reported(frame: str, reason: str) -> None:
    adapter = OkxAdapter()
    assert adapter.parse(frame, RECV) == []
    assert adapter.drain_issues()[0][0] == reason


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("ping?", "json"),
        ('{"data":[]}', "schema"),
        ('{"arg":{"channel":"books"},"data":[]}', "unknown_channel"),
        ('{"arg":{"channel":"funding-rate"},"data":{}}', "schema"),
        ('{"arg":{"channel":"funding-rate"},"data":[{"instId":"BTC-USDT-SWAP","fundingRate":"NaN"}]}', "value"),
        (
            '{"arg":{"channel":"liquidation-orders"},"data":[{"instId":"BTC-USDT-SWAP","details":[{"posSide":"up","side":"sell","bkPx":"1","sz":"1","ts":"1"}]}]}',
            "value",
        ),
        ('{"arg":{"channel":"open-interest"},"data":[{"instId":"BTCUSDT","oiCcy":"1"}]}', "unknown_symbol"),
    ],
)
def test_unreadable_frames_raise_parse_error(frame: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        OkxAdapter().parse(frame, RECV)
    assert info.value.reason == reason


# -- subscriptions -----------------------------------------------------------------------------
def test_connections() -> None:
    conns = OkxAdapter().connections(["BTC-USDT-SWAP", "XRP-USD-230929"])
    assert [c.label for c in conns] == ["liquidations", "instruments-1"]
    liq, inst = conns
    assert liq.url == inst.url == "wss://ws.okx.com:8443/ws/v5/public"
    assert liq.bases == ()  # liquidation-orders covers every instrument of the type
    assert orjson.loads(liq.subscribe[0])["args"] == [
        {"channel": "liquidation-orders", "instType": "SWAP"},
        {"channel": "liquidation-orders", "instType": "FUTURES"},
    ]
    assert orjson.loads(inst.subscribe[0])["args"] == [
        {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"},
        {"channel": "open-interest", "instId": "BTC-USDT-SWAP"},
        {"channel": "open-interest", "instId": "XRP-USD-230929"},  # futures have no funding
    ]
    assert (inst.symbols, inst.bases) == (("BTC-USDT-SWAP", "XRP-USD-230929"), ("BTC", "XRP"))


def test_connections_split_by_subscription_count() -> None:
    symbols = [f"C{i}-USDT-SWAP" for i in range(300)]
    conns = OkxAdapter().connections(symbols, ws_url="ws://127.0.0.1:8443")
    assert conns[0].url == "ws://127.0.0.1:8443/ws/v5/public"
    assert [len(c.symbols) for c in conns[1:]] == [120, 120, 60]  # 2 args each, ≤ 240 per connection


def test_requests_stay_under_64_kb() -> None:
    class Wide(OkxAdapter):
        max_subscriptions_per_connection = 10_000

    symbols = [f"{'X' * 40}{i}-USDT-SWAP" for i in range(2000)]
    [_, conn] = Wide().connections(symbols)
    assert len(conn.subscribe) > 1
    sent = []
    for message in conn.subscribe:
        assert len(message.encode()) <= 64 * 1024
        sent.extend(orjson.loads(message)["args"])
    assert len(sent) == 4000


def test_all_symbols_means_every_swap_in_the_book() -> None:
    conns = loaded().connections([])
    assert conns[1].symbols == ("BTC-USD-SWAP", "BTC-USDT-SWAP", "ETH-USDT-SWAP", "IOST-USDT-SWAP", "NEW-USDT-SWAP")


def test_declarations() -> None:
    assert OkxAdapter.keepalive.mode == "client_ping"
    assert OkxAdapter().ping_payload() == "ping"
    assert OkxAdapter.keepalive.interval_s < 30
    assert OkxAdapter.keepalive.interval_s < OkxAdapter.liveness_timeout_s


def test_instrument_body_is_read_whatever_the_path_label() -> None:
    adapter = OkxAdapter()
    assert adapter.load_instruments("instruments", (FIXTURES / "instruments/okx_futures.json").read_bytes()) == 2


# -- frames shaped like live traffic: the one typed reader takes each, or refuses it with a bounded reason ----
LIVE_FRAMES = [
    '{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0","bkPx":"61000.5",'
    '"ccy":"","posSide":"net","side":"sell","sz":"3","ts":"1700000000000"},{"bkLoss":"0","bkPx":"61001",'
    '"ccy":"","posSide":"long","side":"sell","sz":"1","ts":""}],"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP",'
    '"instType":"SWAP","uly":"BTC-USDT"}]}',
    '{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP",'
    '"markPx":"61000.1","ts":"1700000000000"}]}',
    '{"arg":{"channel":"open-interest","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP",'
    '"instType":"SWAP","oi":"100","oiCcy":"1","oiUsd":"","ts":"1700000000000"}]}',
    '{"event":"error","code":"60012","msg":"Invalid request"}',
    '{"event":"subscribe","arg":{"channel":"open-interest","instId":"BTC-USDT-SWAP"},"connId":"a4d3ae55"}',
    "pong",
]
ZEROS = ("0", "0.0", "-0", "-0.0", 0, 0.0, "9007199254740993", 9007199254740993)
RESPELLED = [
    (name, path)
    for name, path in (
        ("okx_funding-rate.jsonl", ("data", 0, "fundingTime")),
        ("okx_funding-rate.jsonl", ("data", 0, "nextFundingTime")),
        ("okx_funding-rate.jsonl", ("data", 0, "fundingRate")),
        ("okx_liquidation-orders.jsonl", ("data", 0, "details", 0, "ts")),
        ("okx_open-interest.jsonl", ("data", 0, "oiCcy")),
    )
]


def respelled(name: str, path: tuple[object, ...]) -> list[bytes]:
    frames = []
    for spelling in ZEROS:
        doc = orjson.loads(sample(name))
        target = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = spelling
        frames.append(orjson.dumps(doc))
    return frames


@pytest.mark.parametrize("frame", LIVE_FRAMES + [f for n, p in RESPELLED for f in respelled(n, p)])
def test_live_shapes_give_events_or_a_bounded_parse_error(frame: str | bytes) -> None:
    adapter = loaded()
    reason = None
    events: list[object] = []
    try:
        events = list(adapter.parse(frame, RECV))
    except ParseError as exc:
        reason = exc.reason
    assert reason in (None, "json", "schema", "value", "implausible", "unknown_channel", "unknown_symbol")
    assert all(isinstance(e, (Liquidation, Funding, OpenInterest)) for e in events)


def test_one_way_and_hedge_mode_sides_in_one_frame() -> None:
    net, hedge = loaded().parse(LIVE_FRAMES[0], RECV)
    assert isinstance(net, Liquidation)
    assert isinstance(hedge, Liquidation)
    assert (net.side, hedge.side) == ("long", "long")  # a one-way sell closes a long
    assert hedge.ts_ms == RECV  # "" is "not given"


def test_control_frames_are_issues_or_nothing() -> None:
    adapter = loaded()
    assert adapter.parse(LIVE_FRAMES[3], RECV) == []
    assert adapter.parse(LIVE_FRAMES[4], RECV) == []
    assert [reason for reason, _ in adapter.drain_issues()] == ["subscription_rejected"]


def test_a_wrong_type_names_the_field() -> None:
    frame = (
        '{"arg":{"channel":"funding-rate","instId":"BTC-USD-SWAP"},"data":[{"instId":"BTC-USD-SWAP","fundingRate":[]}]}'
    )
    with pytest.raises(ParseError) as info:
        loaded().parse(frame, RECV)
    assert info.value.reason == "schema"
    assert "$[0].fundingRate" in str(info.value)
