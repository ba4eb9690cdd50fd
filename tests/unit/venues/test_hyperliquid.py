"""Hyperliquid parser: activeAssetCtx worked out by hand, meta universe, subscriptions."""

from __future__ import annotations

import orjson
import pytest

from monitor.errors import ParseError
from monitor.events import Funding, OpenInterest
from monitor.venues.hyperliquid import HyperliquidAdapter
from tests.conftest import FIXTURES, SAMPLES

# 2026-02-05T12:00:12.345Z
RECV = 1_770_292_812_345
META = FIXTURES / "instruments" / "hyperliquid_meta.json"


def sample(line: int) -> str:
    return (SAMPLES / "hyperliquid_activeAssetCtx.jsonl").read_text().splitlines()[line - 1]


def test_recorded_active_asset_ctx() -> None:
    funding, oi = HyperliquidAdapter().parse(sample(1), RECV)
    assert isinstance(funding, Funding)
    assert (funding.symbol, funding.base, funding.quote, funding.contract) == ("MOODENG", "MOODENG", "USD", "linear")
    assert funding.rate == pytest.approx(0.00004863)
    assert funding.interval_h == 1.0  # hourly funding
    assert funding.rate_8h == pytest.approx(0.00038904)  # 0.00004863 × 8
    assert funding.mark_price == pytest.approx(0.19963)
    assert funding.index_price == pytest.approx(0.1995)  # oraclePx
    # next hour boundary after 12:00:12.345 is 13:00:00 = 1770296400000
    assert funding.next_funding_ms == 1_770_296_400_000
    assert funding.ts_ms == RECV  # the frame carries no time
    assert isinstance(oi, OpenInterest)
    assert oi.oi_base == pytest.approx(18617460.0)  # coins
    # 18617460 MOODENG × 0.19963 USD = 3716603.54 USD
    assert oi.oi_usd == pytest.approx(3716603.5398, rel=1e-9)
    assert oi.ts_ms == RECV


def test_identical_context_again_is_not_news_even_after_reconnect() -> None:
    venue = HyperliquidAdapter()
    first = venue.parse(sample(1), RECV)
    assert len(first) == 2
    assert venue.parse(sample(1), RECV + 500) == []
    venue.reset()
    assert venue.parse(sample(1), RECV + 900) == []  # re-sent after a resubscription


def test_changed_context_is_published_and_a_return_to_old_values_too() -> None:
    venue = HyperliquidAdapter()
    ctx_a = orjson.loads(sample(1))
    ctx_b = orjson.loads(sample(1))
    ctx_b["data"]["ctx"]["openInterest"] = "18000000.0"
    a1 = venue.parse(orjson.dumps(ctx_a), RECV)
    (oi_b,) = venue.parse(orjson.dumps(ctx_b), RECV + 1000)  # OI changed, funding/mark did not
    a2 = venue.parse(orjson.dumps(ctx_a), RECV + 2000)
    assert isinstance(oi_b, OpenInterest)
    assert oi_b.oi_base == pytest.approx(18_000_000)
    assert [type(e) for e in a2] == [OpenInterest]  # back to 18617460: published again
    assert a2[0].id not in {e.id for e in a1}
    assert a2[0].ts_ms == RECV + 2000


def test_missing_mark_gives_no_usd() -> None:
    frame = '{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"-0.0000125","openInterest":"1000.5"}}}'
    funding, oi = HyperliquidAdapter().parse(frame, RECV)
    assert isinstance(funding, Funding)
    assert isinstance(oi, OpenInterest)
    assert funding.rate_8h == pytest.approx(-0.0001)  # −0.0000125 × 8
    assert funding.mark_price is None
    assert oi.oi_usd is None
    assert oi.oi_base == pytest.approx(1000.5)


@pytest.mark.parametrize(
    "frame",
    [
        '{"channel":"pong"}',
        '{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{"type":"activeAssetCtx","coin":"BTC"}}}',
        '{"channel":"activeSpotAssetCtx","data":{"coin":"@107","ctx":{"markPx":"1.0"}}}',
    ],
)
def test_control_frames_give_nothing(frame: str) -> None:
    venue = HyperliquidAdapter()
    assert venue.parse(frame, RECV) == []
    assert venue.drain_issues() == []


def test_error_channel_is_an_issue() -> None:
    venue = HyperliquidAdapter()
    assert venue.parse('{"channel":"error","data":"Error parsing JSON into valid websocket request"}', RECV) == []
    assert [r for r, _ in venue.drain_issues()] == ["venue_error"]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{", "json"),
        ('"pong"', "schema"),
        ('{"data":{}}', "schema"),
        ('{"channel":"trades","data":[]}', "unknown_channel"),
        ('{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"abc","openInterest":"1"}}}', "value"),
        ('{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"0.1","openInterest":"-1"}}}', "value"),
        ('{"channel":"activeAssetCtx","data":{"coin":"","ctx":{"funding":"0.1","openInterest":"1"}}}', "value"),
        ('{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":[]}}', "schema"),
    ],
)
def test_garbage_raises_parse_error(frame: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        HyperliquidAdapter().parse(frame, RECV)
    assert info.value.reason == reason


def test_meta_universe_skips_delisted_coins() -> None:
    venue = HyperliquidAdapter()
    assert [(r.method, r.path, r.body) for r in venue.instrument_requests()] == [("POST", "/info", b'{"type":"meta"}')]
    assert venue.load_instruments("/info", META.read_bytes()) == 4
    assert venue.instruments.perpetuals() == ["BTC", "ETH", "MOODENG", "kPEPE"]
    btc = venue.instruments.get("BTC")
    assert btc is not None
    assert (btc.size_unit, btc.funding_interval_h, btc.quote) == ("base", 1.0, "USD")
    with pytest.raises(ParseError):
        venue.load_instruments("/info", b'{"universe": 3}')


def test_one_subscription_per_coin() -> None:
    (conn,) = HyperliquidAdapter().connections(["BTC", "kPEPE"])
    assert conn.url == "wss://api.hyperliquid.xyz/ws"
    assert [orjson.loads(f) for f in conn.subscribe] == [
        {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}},
        {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "kPEPE"}},
    ]
    assert conn.bases == ("BTC", "KPEPE")
    assert HyperliquidAdapter().connections(["BTC"], "ws://127.0.0.1:9")[0].url == "ws://127.0.0.1:9/ws"


def test_connections_cover_the_book_and_respect_the_ip_limit() -> None:
    venue = HyperliquidAdapter()
    venue.load_instruments("/info", META.read_bytes())
    (conn,) = venue.connections([], "ws://127.0.0.1:9/ws")
    assert conn.url == "ws://127.0.0.1:9/ws"
    assert conn.symbols == ("BTC", "ETH", "MOODENG", "kPEPE")
    many = venue.connections([f"C{i}" for i in range(1200)])
    assert sum(len(c.subscribe) for c in many) == 1000
    assert max(len(c.subscribe) for c in many) == HyperliquidAdapter.max_subscriptions_per_connection
    assert [r for r, _ in venue.drain_issues()] == ["subscription_limit"]


def test_keepalive_declaration() -> None:
    keepalive = HyperliquidAdapter.keepalive
    assert keepalive.mode == "client_ping"
    assert orjson.loads(keepalive.payload or "") == {"method": "ping"}
    assert keepalive.interval_s < keepalive.drop_after_s  # server drops idle clients after ~60 s
    assert HyperliquidAdapter.liveness_timeout_s > keepalive.interval_s


# -- frames shaped like live traffic: the one typed reader takes each, or refuses it with a bounded reason ----
LIVE_FRAMES = [
    sample(1),
    sample(1),  # the same context again publishes nothing
    '{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"-0.0000125","openInterest":"1000.5"}}}',
    '{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"-0.0000125","openInterest":"1000.5",'
    '"markPx":"","oraclePx":null}}}',
    '{"channel":"activeAssetCtx","data":{"coin":"NOSUCH","ctx":{"funding":0.0001,"openInterest":7,"markPx":2.5,'
    '"oraclePx":"2.4","impactPxs":["2.4","2.6"]}}}',
    '{"channel":"pong"}',
    '{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{"type":"activeAssetCtx",'
    '"coin":"BTC"}}}',
    '{"channel":"error","data":"Invalid subscription"}',
]


def test_live_shapes_give_events_or_a_bounded_parse_error() -> None:
    venue = HyperliquidAdapter()
    for frame in LIVE_FRAMES:
        try:
            events = venue.parse(frame, RECV)
        except ParseError as exc:
            reason: str | None = exc.reason
            events = []
        else:
            reason = None
        assert reason in (None, "json", "schema", "value", "implausible", "unknown_channel"), frame
        assert all(isinstance(e, (Funding, OpenInterest)) for e in events)
    assert [r for r, _ in venue.drain_issues()] == ["venue_error"]
