"""Scenarios through the real parsers and the detection engine with default settings."""

from __future__ import annotations

from collections import Counter

import pytest

from monitor.alert import Alert
from monitor.commands.backtest import detect, parse_records
from monitor.detectors.config import DetectorSettings
from monitor.events import Liquidation, OpenInterest
from monitor.sim.scenario import generate

pytestmark = pytest.mark.integration


def _alerts(name: str, hours: float, seed: int = 1) -> list[Alert]:
    parsed = parse_records(generate(name, seed=seed, hours=hours).records)
    assert not parsed.parse_errors
    return detect(parsed.events, DetectorSettings())


def _first_firing(alerts: list[Alert], kind: str, direction: str) -> int:
    times = [a.ts_ms for a in alerts if (a.kind, a.direction, a.status, a.venue) == (kind, direction, "firing", None)]
    assert times, f"no {kind} {direction} fired"
    return min(times)


@pytest.mark.slow
def test_feb_2026_crash_raises_the_flush_in_order() -> None:
    alerts = _alerts("feb-2026-crash", hours=12)
    cascade = _first_firing(alerts, "liquidation_cascade", "long")
    flip = _first_firing(alerts, "funding_flip", "negative")
    collapse = _first_firing(alerts, "oi_collapse", "down")
    squeeze = _first_firing(alerts, "liquidation_cascade", "short")
    assert cascade < flip < collapse < squeeze
    critical = [
        a for a in alerts if a.kind == "liquidation_cascade" and a.direction == "long" and a.severity == "critical"
    ]
    assert critical, "the 5 Feb cascade should reach critical"
    resolved = [
        a
        for a in alerts
        if a.status == "resolved" and a.kind == "liquidation_cascade" and a.venue is None and a.direction == "long"
    ]
    assert sum(a.values["total_usd"] for a in resolved) > 500e6


def _flapping(alerts: list[Alert]) -> Counter[tuple[str, str | None, str]]:
    firing = Counter((a.kind, a.venue, a.direction) for a in alerts if a.status == "firing")
    return Counter({key: n for key, n in firing.items() if n > 1})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["calm", "funding-chop", "slow-bleed"])
def test_quiet_scenarios_raise_no_cascade_and_do_not_flap(name: str) -> None:
    alerts = _alerts(name, hours=6)
    assert not [a for a in alerts if a.kind == "liquidation_cascade"]
    assert not _flapping(alerts)
    if name == "calm":
        assert alerts == []


def _episodes(alerts: list[Alert], kind: str) -> set[tuple[str, int]]:
    return {(a.direction, a.started_ms) for a in alerts if a.kind == kind and a.venue is None}


def test_a_venue_disconnected_mid_cascade_changes_nothing_but_the_report() -> None:
    """Binance (30 % of the market) drops out a minute into the flash crash and comes back an hour later."""
    base = _alerts("flash-crash", hours=4)
    alerts = _alerts("flash-crash-outage", hours=4)
    cascades = [a for a in alerts if a.kind == "liquidation_cascade" and a.venue is None]
    assert [a.status for a in cascades if a.direction == "long"][-1] == "resolved"
    assert len(_episodes(alerts, "liquidation_cascade")) == 1  # fires and resolves once
    assert "critical" in {a.severity for a in cascades if a.status == "firing"}
    resolved = next(a for a in cascades if a.status == "resolved")
    assert resolved.values["disconnected_venues"] == ["binance"]
    assert "Binance disconnected for part of the episode" in resolved.summary
    # Its open interest leaving and coming back is neither a collapse nor a surge: the same
    # open-interest and funding episodes as with every venue connected.
    for kind in ("oi_collapse", "oi_surge", "funding_flip"):
        assert {d for d, _ in _episodes(alerts, kind)} == {d for d, _ in _episodes(base, kind)}, kind
    assert not _episodes(alerts, "oi_surge")


def test_a_cascade_told_only_by_inverse_venues_has_the_right_notional_and_severity() -> None:
    """BitMEX XBTUSD and Deribit BTC-PERPETUAL: sizes are USD face values, not coins."""
    scenario = generate("flash-crash-inverse", seed=1, hours=4)
    parsed = parse_records(scenario.records)
    assert not parsed.parse_errors
    liquidations = [e for e in parsed.events if isinstance(e, Liquidation)]
    assert {(e.venue, e.contract) for e in liquidations} == {("bitmex", "inverse"), ("deribit", "inverse")}
    shown = scenario.figures["long_usd_shown"] + scenario.figures["short_usd_shown"]
    assert sum(e.notional_usd or 0.0 for e in liquidations) == pytest.approx(shown, rel=0.01)
    alerts = detect(parsed.events, DetectorSettings())
    cascade = [a for a in alerts if a.kind == "liquidation_cascade" and a.venue is None and a.direction == "long"]
    assert {a.severity for a in cascade} >= {"info", "warning"}  # 8 % of the market: $56M in 12 min
    resolved = [a for a in cascade if a.status == "resolved"]
    assert len(resolved) == 1
    episode = resolved[0]
    lead_in = episode.started_ms - episode.values["lead_in_s"] * 1000
    crash = [e for e in liquidations if e.side == "long" and lead_in <= e.ts_ms <= episode.ts_ms]
    assert episode.values["total_usd"] == pytest.approx(sum(e.notional_usd or 0.0 for e in crash), rel=0.02)
    assert episode.values["sampled_venues"] == []  # both feeds are complete


@pytest.mark.parametrize(
    ("name", "severity", "within_s"),
    [("flash-crash-half", "warning", 120), ("flash-crash", "critical", 120), ("flash-crash-double", "critical", 60)],
)
def test_crash_scales_still_fire(name: str, severity: str, within_s: float) -> None:
    """Half the seed's liquidations is still at least a warning; double is critical within a minute."""
    scenario = generate(name, seed=1)
    onset = scenario.start_ms + 2 * 3_600_000  # the crash starts at 02:00
    alerts = detect(parse_records(scenario.records).events, DetectorSettings())
    reached = [
        a.ts_ms
        for a in alerts
        if (a.kind, a.direction, a.status, a.venue, a.severity)
        == ("liquidation_cascade", "long", "firing", None, severity)
    ]
    assert reached, f"{name} never reached {severity}"
    assert 0 <= (reached[0] - onset) / 1000 <= within_s


def test_glitch_prints_mid_calm_stay_silent() -> None:
    scenario = generate("calm-glitches", seed=1, hours=4)
    events = parse_records(scenario.records).events
    liquidations = sorted((e for e in events if isinstance(e, Liquidation)), key=lambda e: e.notional_usd or 0.0)
    median = liquidations[len(liquidations) // 2].notional_usd or 0.0
    # The three bad prints are in the events the detectors get...
    assert any(isinstance(e, OpenInterest) and e.oi_base == 0 for e in events)
    assert (liquidations[-1].notional_usd or 0.0) > 500 * median
    prices = sorted(e.price for e in liquidations)
    assert prices[0] < 0.6 * prices[len(prices) // 2]
    # ...and move nothing.
    assert detect(events, DetectorSettings()) == []
