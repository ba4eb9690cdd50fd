"""BitMEX parser: recorded samples worked out by hand, table merging, liquidation order lifecycle."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.bitmex import BitmexAdapter, interval_hours, iso_ms
from tests.conftest import FIXTURES, SAMPLES
from tests.unit.venues.live import check_live_frames

RECV = 1_770_292_812_345
BOOK = FIXTURES / "instruments" / "bitmex_instrument_active.json"


def sample(name: str, line: int) -> str:
    return (SAMPLES / f"{name}.jsonl").read_text().splitlines()[line - 1]


def adapter(*, book: bool = False) -> BitmexAdapter:
    venue = BitmexAdapter()
    if book:
        assert venue.load_instruments("/api/v1/instrument/active", BOOK.read_bytes()) == 6
    return venue


def liq_frame(action: str, **row: object) -> str:
    return orjson.dumps({"table": "liquidation", "action": action, "data": [row]}).decode()


# -- instrument table -------------------------------------------------------------------------


def test_instrument_partial_gives_funding_and_open_interest() -> None:
    funding, oi = adapter().parse(sample("bitmex_instrument", 1), RECV)
    assert isinstance(funding, Funding)
    assert (funding.symbol, funding.base, funding.quote, funding.contract) == ("XBTUSD", "BTC", "USD", "inverse")
    assert funding.rate == pytest.approx(0.0001)
    # fundingInterval "2000-01-01T08:00:00.000Z" = 8 h after the 2000 epoch
    assert funding.interval_h == 8.0
    assert funding.rate_8h == pytest.approx(0.0001)  # 8 h interval: unchanged
    # fundingTimestamp 2021-12-18T20:00:00Z = 1639857600 s
    assert funding.next_funding_ms == 1_639_857_600_000
    # row timestamp 2021-12-18T19:55:00Z = 1639857300 s
    assert funding.ts_ms == 1_639_857_300_000
    assert funding.recv_ms == RECV
    assert funding.mark_price == pytest.approx(46704.01)
    assert funding.index_price == pytest.approx(46703.96)  # indicativeSettlePrice
    assert isinstance(oi, OpenInterest)
    # 66341700 USD contracts / 46704.01 USD per BTC = 1420.4712 BTC
    assert oi.oi_base == pytest.approx(1420.471175815524, rel=1e-9)
    # cross-check: openValue 142046867538 satoshis / 1e8 = 1420.4687 BTC
    assert oi.oi_base == pytest.approx(142046867538 / 1e8, rel=1e-4)
    assert oi.oi_usd == pytest.approx(66341700)  # 1 contract = 1 USD
    assert oi.ts_ms == 1_639_857_300_000


def test_update_with_only_price_fields_merges_silently() -> None:
    venue = adapter()
    venue.parse(sample("bitmex_instrument", 1), RECV)
    assert venue.parse(sample("bitmex_instrument", 2), RECV) == []


def test_update_merges_open_value_and_mark_into_the_partial() -> None:
    venue = adapter()
    venue.parse(sample("bitmex_instrument", 1), RECV)
    venue.parse(sample("bitmex_instrument", 2), RECV)
    (oi,) = venue.parse(sample("bitmex_instrument", 3), RECV)
    assert isinstance(oi, OpenInterest)
    # openInterest 66341700 (from the partial) / new markPrice 46599.19 = 1423.6664 BTC
    assert oi.oi_base == pytest.approx(1423.6663770335922, rel=1e-9)
    # cross-check: new openValue 142366634532 satoshis / 1e8 = 1423.6663 BTC
    assert oi.oi_base == pytest.approx(142366634532 / 1e8, rel=1e-4)
    assert oi.oi_usd == pytest.approx(66341700)
    # update timestamp 2021-12-18T20:03:05Z = 1639857785 s (older than line 2: out of order is kept)
    assert oi.ts_ms == 1_639_857_785_000


def test_update_with_a_null_funding_field_is_news_and_keeps_the_last_value() -> None:
    venue = adapter()
    (first, _) = venue.parse(sample("bitmex_instrument", 1), RECV)
    # A key sent null still says the funding changed; the null leaves the last rate in place.
    update = {"table": "instrument", "action": "update", "data": [{"symbol": "XBTUSD", "fundingRate": None}]}
    (funding,) = venue.parse(orjson.dumps(update), RECV)
    assert isinstance(first, Funding)
    assert isinstance(funding, Funding)
    assert funding.rate == first.rate
    assert funding.id == first.id
    # A field liqmon does not read is no news, even next to one it does not merge either.
    other = {"table": "instrument", "action": "update", "data": [{"symbol": "XBTUSD", "lastPrice": 1.0}]}
    assert venue.parse(orjson.dumps(other), RECV) == []


def test_partials_of_other_subscriptions_keep_earlier_rows() -> None:
    venue = adapter()
    venue.parse(sample("bitmex_instrument", 1), RECV)
    sol = orjson.loads(BOOK.read_bytes())[3]
    venue.parse(orjson.dumps({"table": "instrument", "action": "partial", "data": [sol]}), RECV)
    (oi,) = venue.parse(sample("bitmex_instrument", 3), RECV)
    assert isinstance(oi, OpenInterest)
    assert oi.symbol == "XBTUSD"


def test_update_without_partial_has_nothing_to_merge_with() -> None:
    assert adapter().parse(sample("bitmex_instrument", 3), RECV) == []


def test_reset_forgets_merged_rows() -> None:
    venue = adapter()
    venue.parse(sample("bitmex_instrument", 1), RECV)
    venue.reset()
    assert venue.parse(sample("bitmex_instrument", 3), RECV) == []


def test_funding_interval_from_the_row_scales_rate_8h() -> None:
    row = orjson.loads(BOOK.read_bytes())[3]
    assert row["symbol"] == "SOLUSDT"
    frame = orjson.dumps({"table": "instrument", "action": "partial", "data": [row]}).decode()
    (funding,) = adapter().parse(frame, RECV)
    assert isinstance(funding, Funding)
    # "2000-01-01T04:00:00.000Z" = 4 h; 0.00005 per 4 h × 2 = 0.0001 per 8 h
    assert funding.interval_h == 4.0
    assert funding.rate_8h == pytest.approx(0.0001)
    assert funding.next_funding_ms is None


def test_interval_and_timestamp_helpers() -> None:
    assert interval_hours("2000-01-02T00:00:00.000Z") == 24.0
    assert interval_hours("2000-01-01T00:00:00.000Z") is None
    assert interval_hours(None) is None
    assert iso_ms("1970-01-01T00:00:01.500Z", "t") == 1500
    with pytest.raises(ParseError):
        iso_ms("yesterday", "t")


def test_remembered_times_give_the_same_answers_and_errors_the_second_time() -> None:
    # ISO times are remembered once read; a bad one is not, so it fails (with its own name) every time.
    for _ in range(2):
        assert iso_ms("2021-12-18T19:55:00.000Z", "timestamp") == 1_639_857_300_000
        assert iso_ms("2021-12-18T19:55:00", "timestamp") == 1_639_857_300_000  # no zone: UTC
        assert interval_hours("2000-01-01T08:00:00.000Z") == 8.0
        assert interval_hours("not a time") is None
        for name in ("timestamp", "fundingTimestamp"):
            with pytest.raises(ParseError, match=f"bitmex {name}: bad ISO timestamp 'yesterday'"):
                iso_ms("yesterday", name)
        with pytest.raises(ParseError, match="before 1970"):
            iso_ms("1969-12-31T23:59:59.000Z", "timestamp")


# -- liquidation table ------------------------------------------------------------------------


def test_recorded_xbtusd_liquidation_insert() -> None:
    (liq,) = adapter().parse(sample("bitmex_liquidation", 1), RECV)
    assert isinstance(liq, Liquidation)
    assert liq.id == "dd9cea25-207c-0dab-15b5-b88da776f500"  # the venue's orderID
    assert liq.side == "short"  # a Buy liquidation order closes a short
    assert liq.price == 10106
    # 9214 USD / 10106 USD per BTC = 0.91174 BTC
    assert liq.qty_base == pytest.approx(0.9117356026123096, rel=1e-9)
    assert liq.notional_usd == pytest.approx(9214)  # 0.91174 BTC × 10106 = 9214 USD
    assert liq.ts_ms == RECV  # rows carry no timestamp
    assert (liq.base, liq.quote, liq.contract) == ("BTC", "USD", "inverse")


def test_recorded_delete_emits_nothing() -> None:
    venue = adapter()
    venue.parse(sample("bitmex_liquidation", 1), RECV)
    assert venue.parse(sample("bitmex_liquidation", 2), RECV) == []
    # the order is forgotten: a later update for it is an orphan
    assert venue.parse(liq_frame("update", orderID="dd9cea25-207c-0dab-15b5-b88da776f500", leavesQty=9999), RECV) == []
    assert [r for r, _ in venue.drain_issues()] == ["orphan_update"]


def test_unknown_contract_has_no_notional_and_is_counted() -> None:
    venue = adapter()
    (liq,) = venue.parse(sample("bitmex_liquidation", 3), RECV)
    assert isinstance(liq, Liquidation)
    assert (liq.symbol, liq.base, liq.side, liq.price) == ("TRXZ19", "TRX", "short", 2.17e-06)
    assert liq.qty_base is None
    assert liq.notional_usd is None
    assert [r for r, _ in venue.drain_issues()] == ["unknown_contract"]


def test_trx_future_with_instrument_book_has_size_but_no_usd() -> None:
    venue = adapter(book=True)
    (liq,) = venue.parse(sample("bitmex_liquidation", 3), RECV)
    assert isinstance(liq, Liquidation)
    # multiplier 1e8 / quoteToSettleMultiplier 1e8 = 1 TRX per contract; 5000 contracts = 5000 TRX
    assert liq.qty_base == pytest.approx(5000)
    assert liq.quote == "XBT"
    assert liq.notional_usd is None  # priced in XBT
    assert [r for r, _ in venue.drain_issues()] == ["non_usd_quote"]


def test_linear_usdt_contract_from_instrument_book() -> None:
    venue = adapter(book=True)
    frame = liq_frame("insert", orderID="o-1", symbol="XBTUSDT", side="Sell", price=65000, leavesQty=250000)
    (liq,) = venue.parse(frame, RECV)
    assert isinstance(liq, Liquidation)
    assert liq.side == "long"  # Sell order closes a long
    # multiplier 1 / quoteToSettleMultiplier 1e6 = 1e-6 BTC per contract; 250000 × 1e-6 = 0.25 BTC
    assert liq.qty_base == pytest.approx(0.25)
    assert liq.notional_usd == pytest.approx(16250)  # 0.25 BTC × 65000
    assert liq.contract == "linear"


def test_quanto_contract_is_unknown_even_with_the_book() -> None:
    venue = adapter(book=True)
    frame = liq_frame("insert", orderID="o-2", symbol="ETHUSD", side="Sell", price=1900, leavesQty=1000)
    (liq,) = venue.parse(frame, RECV)
    assert isinstance(liq, Liquidation)
    assert liq.notional_usd is None
    assert liq.base == "ETH"
    assert [r for r, _ in venue.drain_issues()] == ["unknown_contract"]


def test_update_that_grows_the_order_emits_only_the_increase() -> None:
    venue = adapter()
    venue.parse(sample("bitmex_liquidation", 1), RECV)
    grow = liq_frame("update", orderID="dd9cea25-207c-0dab-15b5-b88da776f500", symbol="XBTUSD", leavesQty=10000)
    (liq,) = venue.parse(grow, RECV + 5)
    assert isinstance(liq, Liquidation)
    # 10000 − 9214 = 786 USD more; 786 / 10106 = 0.077776 BTC
    assert liq.qty_base == pytest.approx(0.07777557886404117, rel=1e-9)
    assert liq.notional_usd == pytest.approx(786)
    assert liq.id != "dd9cea25-207c-0dab-15b5-b88da776f500"
    assert liq.side == "short"
    # the same update again changes nothing
    assert venue.parse(grow, RECV + 6) == []


def test_update_that_shrinks_the_order_is_a_fill_already_counted() -> None:
    venue = adapter()
    venue.parse(sample("bitmex_liquidation", 1), RECV)
    shrink = liq_frame("update", orderID="dd9cea25-207c-0dab-15b5-b88da776f500", symbol="XBTUSD", leavesQty=5000)
    assert venue.parse(shrink, RECV) == []
    # then growing from 5000 to 6000 counts the 1000 new contracts at the updated price
    regrow = liq_frame("update", orderID="dd9cea25-207c-0dab-15b5-b88da776f500", price=10000, leavesQty=6000)
    (liq,) = venue.parse(regrow, RECV)
    assert isinstance(liq, Liquidation)
    assert liq.qty_base == pytest.approx(0.1)  # 1000 USD / 10000 USD per BTC
    assert liq.price == 10000


def test_resent_insert_keeps_its_id() -> None:
    first = adapter().parse(sample("bitmex_liquidation", 1), RECV)
    again = adapter().parse(sample("bitmex_liquidation", 1), RECV + 1000)
    assert first[0].id == again[0].id


def test_partial_of_liquidation_table_counts_resting_orders() -> None:
    frame = orjson.dumps(
        {
            "table": "liquidation",
            "action": "partial",
            "keys": ["orderID"],
            "data": [{"orderID": "p-1", "symbol": "XBTUSD", "side": "Sell", "price": 60000, "leavesQty": 6000}],
        }
    ).decode()
    (liq,) = adapter().parse(frame, RECV)
    assert isinstance(liq, Liquidation)
    assert liq.side == "long"
    assert liq.qty_base == pytest.approx(0.1)  # 6000 USD / 60000


# -- control frames, errors, subscriptions ----------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "pong",
        b"pong",
        '{"info":"Welcome to the BitMEX Realtime API.","version":"2.0.0","timestamp":"2026-02-05T12:00:00.000Z",'
        '"docs":"https://www.bitmex.com/app/wsAPI","limit":{"remaining":39}}',
        '{"success":true,"subscribe":"instrument:XBTUSD","request":{"op":"subscribe","args":["instrument:XBTUSD"]}}',
    ],
)
def test_control_frames_give_nothing(frame: str | bytes) -> None:
    venue = adapter()
    assert venue.parse(frame, RECV) == []
    assert venue.drain_issues() == []


def test_error_frame_is_reported_as_an_issue() -> None:
    venue = adapter()
    frame = '{"status":400,"error":"Unknown table: liquidations","meta":{},"request":{"op":"subscribe"}}'
    assert venue.parse(frame, RECV) == []
    assert [r for r, _ in venue.drain_issues()] == ["venue_error"]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "json"),
        ("[1,2]", "schema"),
        ('{"table":"trade","action":"insert","data":[]}', "unknown_channel"),
        ('{"table":"liquidation","action":"upsert","data":[]}', "schema"),
        ('{"table":"liquidation","action":"insert","data":{}}', "schema"),
        (
            '{"table":"liquidation","action":"insert","data":[{"orderID":"x","symbol":"XBTUSD","side":"Up",'
            '"price":1,"leavesQty":1}]}',
            "value",
        ),
        (
            '{"table":"liquidation","action":"insert","data":[{"orderID":"x","symbol":"XBTUSD","side":"Buy",'
            '"price":-5,"leavesQty":1}]}',
            "value",
        ),
        ('{"table":"instrument","action":"partial","data":[{"symbol":"XBTUSD","fundingRate":"x"}]}', "value"),
        (
            '{"table":"instrument","action":"partial","data":[{"symbol":"XBTUSD","fundingRate":0.1,'
            '"timestamp":"soon"}]}',
            "value",
        ),
    ],
)
def test_garbage_raises_parse_error(frame: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        adapter().parse(frame, RECV)
    assert info.value.reason == reason


def test_connections_subscribe_liquidations_and_instruments() -> None:
    (conn,) = adapter().connections(["XBTUSD", "ETHUSD"])
    assert conn.url == "wss://ws.bitmex.com/realtime"
    assert orjson.loads(conn.subscribe[0]) == {
        "op": "subscribe",
        "args": ["liquidation", "instrument:XBTUSD", "instrument:ETHUSD"],
    }
    assert conn.symbols == ("XBTUSD", "ETHUSD")
    assert conn.bases == ()  # the unfiltered liquidation table covers the whole venue
    # an override may be an origin (the simulators) or a full URL
    assert adapter().connections(["XBTUSD"], "ws://127.0.0.1:9")[0].url == "ws://127.0.0.1:9/realtime"


def test_connections_split_and_follow_the_book_and_override() -> None:
    venue = adapter(book=True)
    conns = venue.connections([f"S{i}USDT" for i in range(150)], "ws://127.0.0.1:9/realtime")
    assert [len(c.symbols) for c in conns] == [100, 50]
    assert all(c.url == "ws://127.0.0.1:9/realtime" for c in conns)
    assert sum(orjson.loads(c.subscribe[0])["args"].count("liquidation") for c in conns) == 1
    # empty symbols: every perpetual of the book
    (conn,) = venue.connections([])
    assert conn.symbols == ("ETHUSD", "SOLUSDT", "XBTUSD", "XBTUSDT")


def test_declarations() -> None:
    assert BitmexAdapter.keepalive.mode == "client_ping"
    assert BitmexAdapter.keepalive.payload == "ping"
    assert BitmexAdapter.liveness_timeout_s > BitmexAdapter.keepalive.interval_s
    assert [r.path for r in adapter().instrument_requests()] == ["/api/v1/instrument/active"]


# -- frames shaped like live traffic: the one typed reader takes each, or refuses it with a bounded reason ----
def lines(name: str) -> list[str]:
    return [line for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


def liquidation_table(action: str, *rows: dict[str, Any]) -> str:
    return orjson.dumps({"table": "liquidation", "action": action, "data": rows}).decode()


# New orders (known, unknown, quanto and non-USD contracts), updates that raise and lower what is left, a
# delete, an order that fails validation after another was read, the instrument table and control frames.
BITMEX_ORDER = {"orderID": "o-1", "symbol": "XBTUSDT", "side": "Sell", "price": 70000.5, "leavesQty": 2000}
LIVE_FRAMES = [
    *lines("bitmex_liquidation.jsonl"),
    *lines("bitmex_instrument.jsonl"),
    liquidation_table("partial"),
    liquidation_table(
        "partial",
        BITMEX_ORDER,
        {**BITMEX_ORDER, "orderID": "o-2", "symbol": "ETHUSD", "side": "Buy", "price": "1900"},
        {**BITMEX_ORDER, "orderID": "o-3", "symbol": "NOSUCHUSDT"},
    ),
    liquidation_table("update", {"orderID": "o-1", "leavesQty": 2500}),
    liquidation_table("update", {"orderID": "o-2", "price": 1901, "leavesQty": 10}),
    liquidation_table("update", {"orderID": "o-9", "leavesQty": 1}),
    liquidation_table("insert", {**BITMEX_ORDER, "orderID": "o-4", "symbol": "TRXZ19"}, {**BITMEX_ORDER, "price": -1}),
    liquidation_table("delete", {"orderID": "o-1"}, {"orderID": "o-9", "symbol": "XBTUSD"}),
    liquidation_table("insert", BITMEX_ORDER),
    liquidation_table("delete", {"orderID": "o-1"}, {"orderID": ""}),
    '{"table":"liquidation","action":"insert","keys":["orderID"],"data":{"orderID":"o-5"}}',
    '{"info":"Welcome to the BitMEX Realtime API.","version":"2.0.0","timestamp":"2026-02-05T12:00:00.000Z"}',
    '{"success":true,"subscribe":"liquidation","request":{"op":"subscribe","args":["liquidation"]}}',
    '{"status":400,"error":"Unknown table: liquidations","request":{"op":"subscribe","args":["liquidations"]}}',
    "pong",
]


def test_live_shapes_give_events_or_a_bounded_parse_error() -> None:
    check_live_frames(adapter(book=True), LIVE_FRAMES, RECV)
