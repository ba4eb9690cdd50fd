"""One bad print is not an event: held open-interest prints and implausible liquidations, counted by reason."""

from __future__ import annotations

import pytest

from monitor.alert import Alert
from monitor.detectors.config import AssetOverride, DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.events import Event
from tests.unit.detectors.market import T0, liq, oi, with_heartbeats

OI = {"window_s": 600.0, "bucket_s": 1.0, "stale_s": 30.0, "hold_s": 30.0, "cooldown_s": 300.0}


def at(second: float) -> int:
    return T0 + int(second * 1000)


def feed(engine: DetectionEngine, events: list[Event], until_s: float) -> list[Alert]:
    out: list[Alert] = []
    for event in with_heartbeats(sorted(events, key=lambda e: e.ts_ms), at(until_s)):
        out += engine.feed(event)
    return out


def prints(venue: str, values: list[float], start: float = 0, step: float = 3) -> list[Event]:
    return [oi(at(start + k * step), v, venue) for k, v in enumerate(values)]


STEADY = [100_000.0] * 20
OI_CASES = [
    pytest.param([*STEADY, 0.0, *STEADY], {"oi_zero": 1}, [], id="one-zero-print"),
    pytest.param([*STEADY, 30_000.0, *STEADY], {"oi_jump": 1}, [], id="one-print-at-a-fraction"),
    pytest.param([*STEADY, 400_000.0, *STEADY], {"oi_jump": 1}, [], id="one-print-four-times-higher"),
    pytest.param([*STEADY, 0.0, 0.0, *STEADY], {"oi_zero": 2}, [], id="two-zeros-then-back"),
    pytest.param(
        # A real, lasting drop of 20 % in one print: held for 10 s (prints every 3 s), then applied.
        [*STEADY, *([80_000.0] * 20)],
        {"oi_jump": 4},
        [("oi_collapse", "firing", "critical")],
        id="a-lasting-step-is-applied-after-10-s",
    ),
    pytest.param(
        # A collapse that moves a few percent per print is never held.
        [100_000.0 - 1_000.0 * k for k in range(30)],
        {},
        [
            ("oi_collapse", "firing", "info"),
            ("oi_collapse", "firing", "warning"),
            ("oi_collapse", "firing", "critical"),
        ],
        id="gradual-collapse-untouched",
    ),
]


@pytest.mark.parametrize(("values", "held", "expected"), OI_CASES)
def test_open_interest_glitch_filter(
    values: list[float], held: dict[str, int], expected: list[tuple[str, str, str]]
) -> None:
    engine = DetectionEngine(DetectorSettings(assets={"BTC": AssetOverride(open_interest=OI)}))
    events = prints("binance", values) + prints("bybit", [50_000.0] * len(values))
    alerts = feed(engine, events, until_s=len(values) * 3)
    asset_wide = [(a.kind, a.status, a.severity) for a in alerts if a.venue is None and a.status == "firing"]
    assert asset_wide == expected
    assert {k: v for k, v in engine.counts.items() if k.startswith("oi_") and v} == held


CASCADE = {"window_s": 60.0, "bucket_s": 1.0, "floor_usd": 1e6, "min_count": 3.0, "warmup_min": 0.0}
LIQ_CASES = [
    pytest.param(
        [liq(at(k), "long", 100e3) for k in range(5)] + [liq(at(6), "long", 2e9)],
        {"implausible_notional": 1},
        id="absurd-notional",
    ),
    pytest.param(
        [liq(at(k), "long", 100e3) for k in range(5)] + [liq(at(6 + k), "long", 600e3, price=7.0) for k in range(3)],
        {"implausible_price": 3},
        id="price-a-ten-thousandth-of-the-market",
    ),
    pytest.param(
        [liq(at(k), "long", 100e3) for k in range(5)]
        + [liq(at(6 + k), "long", 600e3, price=700_000.0) for k in range(3)],
        {"implausible_price": 3},
        id="price-ten-times-the-market",
    ),
]


@pytest.mark.parametrize(("events", "ignored"), LIQ_CASES)
def test_implausible_liquidations_never_move_a_window(events: list[Event], ignored: dict[str, int]) -> None:
    engine = DetectionEngine(DetectorSettings(assets={"BTC": AssetOverride(cascade=CASCADE)}))
    alerts = feed(engine, events, until_s=30)
    assert alerts == []
    assert {k: v for k, v in engine.counts.items() if k.startswith("implausible") and v} == ignored
    side = engine.detectors("BTC")
    assert side is not None
    assert side.long.window_usd(at(30)) == pytest.approx(500e3)


def test_a_real_crash_is_not_mistaken_for_a_bad_price() -> None:
    """A 12 % fall within minutes stays inside the 30 % band of the recent price."""
    engine = DetectionEngine(DetectorSettings(assets={"BTC": AssetOverride(cascade=CASCADE)}))
    events = [liq(at(k), "long", 400e3, price=70_000.0 * (1 - 0.0005 * k)) for k in range(240)]
    alerts = feed(engine, events, until_s=240)
    assert [a.status for a in alerts if a.kind == "liquidation_cascade"][:1] == ["firing"]
    assert engine.counts["implausible_price"] == 0


def test_an_open_interest_print_with_a_wrong_usd_value_does_not_poison_the_price() -> None:
    """The price implied by oi_usd / oi_base is judged like a liquidation's: ten times the market is left out."""
    engine = DetectionEngine(DetectorSettings(assets={"BTC": AssetOverride(cascade=CASCADE)}))
    events: list[Event] = [liq(at(k), "long", 100e3) for k in range(3)]
    events.append(oi(at(4), 100_000.0, "bybit", price=700_000.0))  # oi_usd ten times too large
    events += [liq(at(5 + k), "long", 400e3) for k in range(3)]
    alerts = feed(engine, events, until_s=20)
    assert engine.counts["implausible_price"] == 0
    assert [a.status for a in alerts if a.kind == "liquidation_cascade"] == ["firing"]
    side = engine.detectors("BTC")
    assert side is not None
    assert side.ctx.prices.last == 70_000.0
