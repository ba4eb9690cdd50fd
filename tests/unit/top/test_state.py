"""The snapshot of a deployment: built from the market tally and the alerts, and its JSON round trip."""

from __future__ import annotations

from monitor.market_metrics import MarketTally
from monitor.top.state import AlertBook, FeedHealth, decode_alerts, decode_snapshot, encode_alerts, encode_snapshot
from tests.unit.top.builders import T0, alert, funding, liquidation, open_interest, snapshot


def test_alert_book_keeps_open_episodes_until_resolved_and_a_log_by_time_raised() -> None:
    book = AlertBook(log_size=3)
    book.add(alert("firing", direction="long"), raised_ms=1_000)
    book.add(alert("firing", direction="short", severity="critical"), raised_ms=2_000)
    assert [a.direction for a in book.active()] == ["short", "long"]  # most severe first
    book.add(alert("resolved", direction="long", ts_ms=T0 + 5), raised_ms=3_000)
    assert [a.direction for a in book.active()] == ["short"]
    assert [a.status for a in book.recent()] == ["resolved", "firing", "firing"]  # newest first
    assert [a.direction for a in book.since(2_000)] == ["short", "long"]
    book.add(alert("firing", direction="long", ts_ms=T0 + 9), raised_ms=4_000)
    assert len(book.log) == 3  # bounded: the oldest went
    assert book.since(0)[0].direction == "short"


def test_snapshot_sums_liquidations_per_venue_and_open_interest_over_symbols() -> None:
    tally = MarketTally(["BTC"])
    tally.observe(
        [
            liquidation("binance", "long", 1_000.0, 1, sampled=True),
            liquidation("binance", "long", 500.0, 2, sampled=True),
            liquidation("bybit", "short", 2_000.0, 3),
            funding("binance", 0.0001),
            open_interest("bybit", 10.0, 700_000.0, "BTCUSDT"),
            open_interest("bybit", 5.0, None, "BTCUSD"),
        ]
    )
    health = {"binance": FeedHealth(connected=1, reconnects=2, parse_errors=0)}
    snap = snapshot(tally, last_seen_ms={"binance": T0 + 57_500}, health=health)
    venues = {v.venue: v for v in snap.venues}
    assert venues["binance"].events == {"funding": 1, "liquidation": 2}
    assert venues["binance"].age_s == 2.5
    assert venues["binance"].sampled
    assert not venues["bybit"].sampled
    assert venues["bybit"].age_s is None  # nothing seen from it
    assert venues["binance"].health == health["binance"]
    assert venues["bybit"].health is None
    assert [(r.venue, r.side, r.count, r.usd) for r in snap.liquidations] == [
        ("binance", "long", 2, 1_500.0),
        ("bybit", "short", 1, 2_000.0),
    ]
    # One symbol without a price: the USD sum is unknown rather than too low.
    assert [(o.oi_base, o.oi_usd) for o in snap.open_interest] == [(15.0, None)]
    assert [(f.venue, f.rate_8h) for f in snap.funding] == [("binance", 0.0001)]


def test_snapshot_and_alerts_survive_the_json_of_the_endpoint() -> None:
    tally = MarketTally(["BTC"])
    tally.observe([liquidation("okx", "long", 100.0)])
    book = AlertBook()
    book.add(alert("firing"), raised_ms=1)
    snap = snapshot(tally, book=book, venues=("okx",))
    assert decode_snapshot(encode_snapshot(snap)) == snap
    assert decode_alerts(encode_alerts(book.since(0))) == book.since(0)


def test_a_body_that_is_not_a_snapshot_is_refused_with_the_reason() -> None:
    import pytest

    with pytest.raises(ValueError, match="not a liqmon state snapshot"):
        decode_snapshot(b'{"source": "x"}')
