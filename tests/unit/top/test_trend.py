"""Rates and the last minute's liquidations, from successive snapshots."""

from __future__ import annotations

from monitor.market_metrics import MarketTally
from monitor.top.trend import Trend
from tests.unit.top.builders import T0, liquidation, snapshot


def test_rates_and_window_compare_the_newest_snapshot_with_an_older_one() -> None:
    tally = MarketTally(["BTC"])
    trend = Trend()
    first = trend.add(snapshot(tally, now_ms=T0))
    assert first.rates == {}
    assert first.window_s == 0
    tally.observe([liquidation("binance", "long", 1_000.0, n) for n in range(20)])
    recent = trend.add(snapshot(tally, now_ms=T0 + 10_000))
    assert recent.rates == {"binance": 2.0, "bybit": 0.0}
    assert recent.liquidations[("BTC", "long")] == (20_000.0, 20)
    assert recent.window_s == 10.0
    for second in range(11, 80):
        recent = trend.add(snapshot(tally, now_ms=T0 + second * 1000))
    # Nothing since second 10: the rate falls to zero and the minute's window is empty.
    assert recent.rates["binance"] == 0.0
    assert recent.liquidations[("BTC", "long")] == (0.0, 0)
    assert recent.window_s == 60.0


def test_a_restarted_source_starts_the_comparison_again() -> None:
    tally = MarketTally(["BTC"])
    trend = Trend()
    tally.observe([liquidation("binance", "long", 1_000.0, n) for n in range(5)])
    trend.add(snapshot(tally, now_ms=T0 + 5_000))
    restarted = MarketTally(["BTC"])  # counters begin again from zero
    recent = trend.add(snapshot(restarted, now_ms=T0 + 6_000, since_ms=T0 + 5_500))
    assert recent.rates == {}
    assert recent.liquidations == {}
