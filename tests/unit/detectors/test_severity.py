"""Severity means size: absolute ladders, the fast path, the wave, one announcement per level."""

from __future__ import annotations

import pytest

from monitor.alert import Alert
from monitor.detectors.config import AssetOverride, DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.events import Event
from tests.unit.detectors.market import T0, liq, with_heartbeats


def settings(**cascade: float) -> DetectorSettings:
    """BTC with the major defaults (5-min window, $10M floor, 60 s fast window), no warm-up."""
    return DetectorSettings(assets={"BTC": AssetOverride(asset_class="major", cascade={"warmup_min": 0.0, **cascade})})


def at(second: float) -> int:
    return T0 + int(second * 1000)


def cascade_alerts(engine: DetectionEngine, events: list[Event], until_s: float, step_ms: int = 1000) -> list[Alert]:
    out: list[Alert] = []
    for event in with_heartbeats(events, at(until_s), step_ms):
        out += engine.feed(event)
    return [a for a in out if a.kind == "liquidation_cascade"]


def burst(start_s: float, count: int, usd: float, every_s: float = 1.0) -> list[Event]:
    return [liq(at(start_s + k * every_s), "long", usd) for k in range(count)]


def brief(alerts: list[Alert]) -> list[tuple[float, str, str, str]]:
    return [((a.ts_ms - T0) / 1000, a.status, a.severity, a.values.get("severity_reason", "")) for a in alerts]


LADDER = [
    pytest.param(
        # $1M a second: the fast (30 s) window has its 10 liquidations at t=9, holding $10M (warning on
        # its ladder), and $20M at t=19 (critical), before the main window's 20-liquidation rule is met.
        burst(0, 30, 1e6),
        {},
        [(9, "firing", "warning", "fast_usd"), (19, "firing", "critical", "fast_usd")],
        id="fast-path-grades-a-violent-minute",
    ),
    pytest.param(
        # The fast ladder alone (main window out of reach): $2.5M info, $10M warning, $20M critical.
        burst(0, 40, 500e3, every_s=0.5),
        {"min_count": 1000.0},
        [
            (4.5, "firing", "info", "fast_usd"),
            (9.5, "firing", "warning", "fast_usd"),
            (19.5, "firing", "critical", "fast_usd"),
        ],
        id="fast-ladder-each-level-once",
    ),
    pytest.param(
        # One $80M whale among small liquidations: it counts for at most half of either floor.
        [*burst(0, 30, 30e3), liq(at(31), "long", 80e6)],
        {},
        [],
        id="one-whale-is-not-a-cascade",
    ),
    pytest.param(
        # ...but a whale on top of a genuine burst grades the burst by its full size.
        [*burst(0, 30, 200e3), liq(at(31), "long", 80e6)],
        {},
        [(12, "firing", "info", "fast_usd"), (31, "firing", "critical", "multiple")],
        id="whale-on-a-burst-counts-in-full",
    ),
]


@pytest.mark.parametrize(("events", "overrides", "expected"), LADDER)
def test_severity_ladders(
    events: list[Event], overrides: dict[str, float], expected: list[tuple[float, str, str, str]]
) -> None:
    engine = DetectionEngine(settings(**overrides))
    alerts = [a for a in cascade_alerts(engine, events, until_s=100) if a.status == "firing"]
    assert brief(alerts) == expected


def test_flash_crash_is_announced_within_seconds() -> None:
    """$30M a minute from t=0: the fast window fires when it holds $2.5M from 10 liquidations."""
    engine = DetectionEngine(settings())
    events = burst(0, 120, 250e3, every_s=0.5)  # $500k a second
    alerts = cascade_alerts(engine, events, until_s=60)
    first = alerts[0]
    assert first.status == "firing"
    assert (first.ts_ms - T0) / 1000 <= 10
    assert first.values["severity_reason"] == "fast_usd"
    assert first.values["fast_usd"] >= 2.5e6
    assert first.values["fast_count"] >= 10
    assert "in 30 s" in first.summary


def test_wave_total_makes_a_long_day_critical_and_freezes_the_baseline() -> None:
    """Episodes of ~$24M each, an hour apart: each alone is info, the wave crosses $250M."""
    engine = DetectionEngine(settings())
    side = engine.detectors  # resolved after the first event
    events: list[Event] = []
    for hour in range(12):
        events += burst(hour * 3600, 40, 600e3, every_s=6)  # $24M over 4 minutes
    alerts = cascade_alerts(engine, events, until_s=12 * 3600, step_ms=5000)
    fired = [a for a in alerts if a.status == "firing"]
    assert fired[0].severity == "info"
    critical = [a for a in fired if a.severity == "critical"]
    assert critical
    assert all(a.values["window_usd"] < 50e6 for a in fired)  # no window is critical on its own
    assert critical[0].values["severity_reason"] == "wave_usd"
    assert critical[0].values["wave_usd"] >= 250e6
    assert critical[0].values["wave_started_ms"] == fired[0].values["wave_started_ms"]
    state = side("BTC")
    assert state is not None
    # Learned only before the wave: the floor's share of a quiet baseline, never the wave's pace.
    assert state.long.baseline_pm <= 10e6 / 5 / 5


def test_wave_ends_after_the_gap_and_a_new_one_starts_from_zero() -> None:
    engine = DetectionEngine(settings(wave_gap_s=1800.0))
    events = burst(0, 40, 600e3, every_s=6) + burst(4 * 3600, 40, 600e3, every_s=6)
    alerts = [a for a in cascade_alerts(engine, events, until_s=5 * 3600, step_ms=5000) if a.status == "resolved"]
    assert len(alerts) == 2
    assert alerts[1].values["wave_started_ms"] > alerts[0].values["wave_started_ms"]
    assert alerts[1].values["wave_usd"] < 30e6


def test_absolute_ladder_grades_whatever_the_learned_baseline() -> None:
    """A busy baseline ($3M a minute) hides $50M in 5 min from the multiples, not from the ladder."""
    engine = DetectionEngine(settings(baseline_half_life_min=5.0, fast_min_count=1000.0))  # main window only
    steady = [liq(at(m * 60 + k * 20), "long", 1e6) for m in range(120) for k in range(3)]  # 15 per window
    crash = burst(120 * 60, 80, 2.5e6)
    alerts = [
        a for a in cascade_alerts(engine, [*steady, *crash], 120 * 60 + 100, step_ms=5000) if a.status == "firing"
    ]
    side = engine.detectors("BTC")
    assert side is not None
    assert side.long.baseline_pm == pytest.approx(3e6, rel=0.05)
    assert [a.severity for a in alerts] == ["warning", "critical"]
    warning, critical = alerts
    assert warning.values["severity_reason"] == "window_usd"
    assert 50e6 <= warning.values["window_usd"] < 150e6
    assert warning.values["multiple"] < 10  # the multiple alone would say info at most
    assert critical.values["severity_reason"] == "window_usd"
    assert critical.values["window_usd"] >= 150e6
    assert critical.values["multiple"] < 25


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        # About three minutes after the first episode resolved, within its 10-minute cooldown:
        pytest.param(burst(600, 30, 400e3, every_s=8), [], id="an-info-burst-waits-for-the-cooldown"),
        pytest.param(burst(600, 30, 1e6), ["warning"], id="a-violent-burst-does-not-wait"),
    ],
)
def test_cooldown_holds_back_repeats_but_not_a_new_violent_burst(second: list[Event], expected: list[str]) -> None:
    engine = DetectionEngine(settings(fast_min_count=1000.0))
    first = burst(0, 25, 500e3)  # $12.5M: info, resolves about 7 minutes later
    alerts = cascade_alerts(engine, [*first, *second], until_s=1000)
    resolved = [a for a in alerts if a.status == "resolved"]
    assert resolved
    assert resolved[0].ts_ms < at(600) < resolved[0].ts_ms + 600_000  # the second burst is in the cooldown
    later = [a.severity for a in alerts if a.status == "firing" and a.started_ms > resolved[0].ts_ms]
    assert later == expected
