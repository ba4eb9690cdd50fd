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
    assert len(ctx.funding_high) <= 600 // 60 + 1
    assert len(ctx.funding_low) == 1
    assert ctx.funding_high.value() == 0.001 - 349 * 1e-6  # the highest print of the last 10 minutes
