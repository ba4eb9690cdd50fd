"""The rendered screen: what an operator reads, at a given size (pure rendering, no terminal)."""

from __future__ import annotations

from collections import Counter

from rich.console import Console

from monitor.market_metrics import MarketTally
from monitor.top.state import AlertBook, FeedHealth, Snapshot
from monitor.top.summary import summary_lines
from monitor.top.trend import Trend
from monitor.top.view import QUIT_HINT, render, usd
from tests.unit.top.builders import T0, alert, funding, liquidation, snapshot

VENUES = ("binance", "bybit", "okx", "deribit")


def screen(snap: Snapshot, *, width: int = 150, height: int = 40) -> list[str]:
    console = Console(width=width, height=height, record=True, file=None, force_terminal=False, color_system=None)
    with console.capture() as capture:
        console.print(render(snap, Trend().add(snap), height=height))
    return capture.get().rstrip("\n").split("\n")


def row(lines: list[str], first: str) -> list[str]:
    return next(line.split() for line in lines if line.split()[:1] == [first])


def busy_snapshot(alerts: int = 0) -> Snapshot:
    tally = MarketTally(["BTC", "ETH"])
    tally.observe(
        [
            liquidation("binance", "long", 2_000_000.0, 1, sampled=True),
            liquidation("bybit", "long", 3_000_000.0, 2),
            liquidation("okx", "short", 500_000.0, 3, base="ETH"),
            funding("bybit", -0.0002),
            funding("okx", -0.0004),
        ]
    )
    book = AlertBook()
    for n in range(alerts):
        book.add(alert("firing", ts_ms=T0 + n * 1000, summary=f"alert number {n}"), raised_ms=n)
    health = {
        "binance": FeedHealth(connected=1, reconnects=0, parse_errors=0),
        "bybit": FeedHealth(connected=0, reconnects=4, parse_errors=1),
        "okx": FeedHealth(connected=1, reconnects=0, parse_errors=0),
        "deribit": FeedHealth(connected=1, reconnects=0, parse_errors=0),
    }
    now = T0 + 60_000
    seen = {"binance": now - 2_000, "bybit": now - 5_000, "okx": now - 300_000}
    return snapshot(tally, now_ms=now, book=book, venues=VENUES, last_seen_ms=seen, health=health)


def test_feeds_show_health_counts_and_whether_the_liquidation_feed_is_sampled() -> None:
    lines = screen(busy_snapshot())
    assert lines[0].startswith("liqmon top")
    assert QUIT_HINT in lines[0]
    assert row(lines, "binance")[1:3] == ["ok", "1"]
    assert row(lines, "binance")[-1] == "sampled"
    assert row(lines, "bybit")[1:3] == ["down", "0"]  # no open connection, whatever the last message
    assert row(lines, "bybit")[-1] == "complete"
    assert row(lines, "okx")[1:3] == ["stale", "300s"]
    assert row(lines, "deribit")[1] == "waiting"  # enabled, nothing received yet


def test_assets_split_the_part_from_sampled_feeds_and_average_funding() -> None:
    lines = screen(busy_snapshot())
    btc = row(lines, "BTC")
    # longs since the start $5.0M, no shorts, $2.0M of it from the sampled binance feed; funding the mean of two.
    assert btc[4:8] == ["$5.0M", "-", "$2.0M", "-0.0300%"]
    eth = row(lines, "ETH")
    assert eth[4:8] == ["-", "$500.0K", "-", "-"]
    assert lines.index(next(line for line in lines if line.startswith("BTC"))) < lines.index(
        next(line for line in lines if line.startswith("ETH"))
    )  # the asset with the most liquidated first


def test_the_screen_fits_its_height_and_lists_as_many_alerts_as_fit() -> None:
    snap = busy_snapshot(alerts=40)
    for height in (30, 40):
        lines = screen(snap, height=height)
        assert len(lines) <= height
        shown = [line for line in lines if "alert number" in line]
        assert shown[0].endswith("alert number 39")  # newest first
        assert len(lines) == height - 1  # the alerts fill what the other sections leave
    assert all(len(line) <= 90 for line in screen(snap, width=90))  # long lines are cut, never wrapped


def test_open_episodes_are_listed_and_idle_says_so() -> None:
    assert any("all idle" in line for line in screen(busy_snapshot()))
    lines = screen(busy_snapshot(alerts=1))
    start = lines.index("detectors (open episodes, since)")
    assert "firing" in lines[start + 1]
    assert "alert number 0" in lines[start + 1]


def test_usd_is_short() -> None:
    assert [usd(v) for v in (950, 12_345, 4_560_000, 1_020_000_000, None)] == ["$950", "$12.3K", "$4.6M", "$1.02B", "-"]


def test_summary_lists_every_venue_and_what_fired() -> None:
    lines = summary_lines(busy_snapshot(), Counter({("liquidation_cascade", "long"): 2}), 12.0)
    assert lines[0] == "demo finished in 12 s: 5 events"
    assert "  binance: liquidation 1 (sampled liquidation feed)" in lines
    assert "  deribit: no events" in lines
    assert "  liquidated: longs $5.0M, shorts $500.0K" in lines
    assert "  alerts fired: liquidation_cascade long ×2" in lines


def test_the_latest_options_summary_per_asset_is_shown_and_summarized() -> None:
    from tests.unit.options.test_event import make

    tally = MarketTally(["BTC"])
    tally.observe([make(), make(id="s2", ts_ms=1_770_249_700_000, dvol=74.0)])
    snap = snapshot(tally, venues=("deribit",))
    line = "options BTC (deribit): RR25 7d -13.1 30d -8.0 · ATM 7d 72.0 30d 63.0 · DVOL 74.0 · put/call OI 0.94"
    assert f"{line} · top puts 60k, 50k" in screen(snap, width=200)
    assert f"  {line} · top puts 60k, 50k" in summary_lines(snap, Counter(), 1.0)
