"""The demo's live view: counters from the taps, and what it renders."""

from __future__ import annotations

import io

from rich.console import Console

from monitor.alert import Alert
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.sim.tui import DemoView, summary_lines

COMMON = {"symbol": "BTCUSDT", "base": "BTC", "quote": "USDT", "contract": "linear", "recv_ms": 1_770_249_601_000}


def test_view_counts_events_and_renders_them() -> None:
    view = DemoView("feb-2026-crash")
    view.on_events(
        [
            Liquidation(
                id="a",
                venue="bybit",
                ts_ms=1_770_249_600_000,
                side="long",
                price=70_000.0,
                qty_base=10.0,
                notional_usd=700_000.0,
                **COMMON,
            ),
            Liquidation(
                id="b",
                venue="bybit",
                ts_ms=1_770_249_600_500,
                side="short",
                price=70_010.0,
                qty_base=1.0,
                notional_usd=70_010.0,
                **COMMON,
            ),
            Funding(
                id="c",
                venue="binance",
                ts_ms=1_770_249_600_600,
                rate=-0.0001,
                interval_h=8.0,
                rate_8h=-0.0001,
                mark_price=70_005.0,
                **COMMON,
            ),
            OpenInterest(id="d", venue="binance", ts_ms=1_770_249_600_700, oi_base=100_000.0, oi_usd=7.0e9, **COMMON),
        ]
    )
    view.on_alert(
        Alert(
            id="x",
            kind="liquidation_cascade",
            status="firing",
            severity="critical",
            base="BTC",
            venue=None,
            direction="long",
            started_ms=1,
            ts_ms=1_770_249_600_000,
            summary="BTC long liquidation cascade: $52.0M liquidated in 5 min",
        )
    )
    assert view.liquidated == {"long": 700_000.0, "short": 70_010.0}
    assert view.rates()["bybit"] > 0
    out = io.StringIO()
    Console(file=out, width=140, force_terminal=False).print(view.render())
    text = out.getvalue()
    for expected in (
        "feb-2026-crash",
        "2026-02-05 00:00:00",
        "bybit",
        "binance",
        "-0.0100",
        "7.00",
        "$52.0M",
        "longs liquidated $0.7M",
    ):
        assert expected in text, expected
    summary = "\n".join(summary_lines(view))
    assert "4 events" in summary
    assert "liquidation_cascade long ×1" in summary


def test_accelerated_playback_widens_the_detector_tolerances() -> None:
    from monitor.settings import load_settings
    from monitor.sim.demo import timing_overrides

    assert timing_overrides(1.0) == {}
    settings = load_settings(None, environ={}, overrides=timing_overrides(240.0))
    assert settings.detectors.reorder_tolerance_s == 240.0
    assert settings.detectors.major.open_interest.stale_s == 360.0
    assert settings.detectors.small_cap.funding.stale_s == 840.0
    assert settings.detectors.major.cascade.window_s == 300.0  # the detection itself is unchanged


def test_view_shows_the_latest_options_summary_per_asset() -> None:
    from tests.unit.options.test_event import make

    view = DemoView("feb-2026-crash")
    view.on_events([make(), make(id="s2", ts_ms=1_770_249_700_000, dvol=74.0)])
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=False).print(view.render())
    line = "options BTC (deribit): RR25 7d -13.1 30d -8.0 · ATM 7d 72.0 30d 63.0 · DVOL 74.0 · put/call OI 0.94"
    assert line + " · top puts 60k, 50k" in out.getvalue()
    assert f"  {line}" in "\n".join(summary_lines(view))
    from monitor.settings import load_settings
    from monitor.sim.demo import timing_overrides

    settings = load_settings(None, environ={}, overrides=timing_overrides(240.0))
    assert settings.detectors.major.options.stale_s == 540.0
