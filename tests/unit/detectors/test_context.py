"""The per-asset context keeps its trend windows bounded without being read."""

from __future__ import annotations

from monitor.detectors.config import RegimeSettings
from monitor.detectors.context import AssetContext

T0 = 1_738_771_200_000


def test_funding_trend_windows_stay_bounded_when_nobody_reads_them() -> None:
    regime = RegimeSettings(funding_lookback_s=600.0)
    ctx = AssetContext("BTC", T0, regime)
    # Funding falling steadily for six hours, one print a minute: every print is a new low (kept by
    # the minimum) and below every earlier high (so the maximum keeps one entry per minute until
    # the entries leave the 10-minute lookback).
    for minute in range(360):
        ctx.note_funding(T0 + minute * 60_000, 0.001 - minute * 1e-6)
    highs, lows = ctx.funding_range.entries()
    assert highs <= 600 // 60 + 1
    assert lows == 1
    assert ctx.funding_range.high() == 0.001 - 349 * 1e-6  # the highest print of the last 10 minutes


def test_price_trail_keeps_the_first_price_of_each_bucket_across_a_restore() -> None:
    ctx = AssetContext("BTC", T0, RegimeSettings())
    for second, price in ((0, 100.0), (5, 101.0), (12, 102.0)):
        assert ctx.note_price(T0 + second * 1000, price)
    restored = AssetContext("BTC", T0, RegimeSettings())
    restored.restore(ctx.snapshot())
    for trail in (ctx.prices, restored.prices):
        trail.add(T0 + 15_000, 103.0)  # the newest bucket (10-20 s) already has its first price
        trail.add(T0 + 21_000, 104.0)
        assert trail.snapshot()["entries"] == [[T0, 100.0], [T0 + 10_000, 102.0], [T0 + 20_000, 104.0]]
        assert (trail.last, trail.last_ms, trail.at(T0 + 12_000)) == (104.0, T0 + 21_000, 102.0)


def test_a_price_outside_the_band_around_the_recent_price_is_left_out() -> None:
    ctx = AssetContext("BTC", T0, RegimeSettings(), price_band_pct=30.0)
    assert ctx.note_price(T0, 100.0)
    assert not ctx.note_price(T0 + 1000, 69.0)  # below 0.7 × 100
    assert not ctx.note_price(T0 + 1000, 143.0)  # above 100 / 0.7
    assert ctx.note_price(T0 + 1000, 142.0)
    assert ctx.note_price(T0 + 1000 + 300_001, 50.0)  # nothing recent enough to judge by
