"""skew_extreme and iv_term_inversion: confirmation, both signs, severity by depth, resolution, staleness."""

from __future__ import annotations

import pytest

from monitor.alert import Alert
from monitor.detectors.config import AssetOverride, DetectorSettings, OptionsSettings
from monitor.detectors.engine import DetectionEngine
from monitor.events import Event, OptionsSummary, TenorPoint
from tests.unit.detectors.market import T0, gap, with_heartbeats

OPTIONS = {"confirm_s": 600.0, "hold_s": 900.0, "cooldown_s": 3600.0, "stale_s": 300.0}


def engine() -> DetectionEngine:
    return DetectionEngine(DetectorSettings(assets={"BTC": AssetOverride(options=OPTIONS)}))


def at(minute: float) -> int:
    return T0 + int(minute * 60_000)


def summary(ts: int, rr7: float, atm7: float = 50.0, atm30: float = 55.0, venue: str = "deribit") -> OptionsSummary:
    """A summary with RR25 at 7 d and ATM IVs at 7 and 30 d given in vol points."""
    tenors = {
        "7": TenorPoint(atm_iv=atm7 / 100, rr25=rr7 / 100, bf25=0.01),
        "30": TenorPoint(atm_iv=atm30 / 100, rr25=rr7 / 200, bf25=0.01),
    }
    return OptionsSummary(
        id=f"{venue}-{ts}",
        venue=venue,
        symbol="btc_usd",
        base="BTC",
        quote="USD",
        contract="inverse",
        ts_ms=ts,
        recv_ms=ts,
        index_price=65_000.0,
        dvol=60.0,
        tenors=tenors,
        put_call_oi_ratio=0.9,
        put_oi_top=((60_000.0, 5_000.0), (50_000.0, 4_000.0)),
    )


def series(readings: list[tuple[float, float, float, float]], end: float) -> list[Event]:
    """A summary each minute: ``readings`` = (from minute, rr7, atm7, atm30) changes, until ``end``."""
    out: list[Event] = []
    for (start, rr7, atm7, atm30), nxt in zip(readings, [*readings[1:], (end, 0, 0, 0)], strict=True):
        minute = start
        while minute < nxt[0]:
            out.append(summary(at(minute), rr7, atm7, atm30))
            minute += 1
    return out


def run(events: list[Event], end_minute: float, kind: str) -> list[Alert]:
    e = engine()
    alerts: list[Alert] = []
    for event in with_heartbeats(events, at(end_minute), step_ms=5_000):
        alerts += e.feed(event)
    return [a for a in alerts if a.kind == kind]


def test_skew_fires_after_confirmation_at_the_depth_reached_and_resolves_once() -> None:
    events = series([(0, -3, 50, 55), (20, -13, 50, 55), (60, -4, 50, 55)], end=120)
    alerts = run(events, 120, "skew_extreme")
    assert [(a.status, a.direction, a.severity) for a in alerts] == [
        ("firing", "negative", "critical"),
        ("resolved", "negative", "critical"),
    ]
    fired, resolved = alerts
    assert at(30) <= fired.ts_ms <= at(31)  # beyond the level from minute 20, confirmed 10 minutes later
    assert fired.values["rr25_vol_pts"] == -13.0
    assert fired.values["tenor_days"] == 7
    assert fired.values["top_put_strike"] == 60_000.0
    assert fired.values["dvol"] == 60.0
    assert fired.values["rr25_by_venue_vol_pts"] == {"deribit": -13.0}
    assert at(75) <= resolved.ts_ms <= at(76)  # back within at minute 60, held 15 minutes
    assert resolved.values["extreme_rr25_vol_pts"] == -13.0
    assert resolved.started_ms == fired.started_ms
    assert fired.id != resolved.id


def test_skew_severity_follows_depth_and_escalates_level_by_level() -> None:
    events = series([(0, -9, 50, 55), (15, -10.5, 50, 55), (25, -12.5, 50, 55)], end=40)
    alerts = run(events, 40, "skew_extreme")
    # Each higher level is announced once as the skew deepens (the shared episode rule).
    assert [(a.status, a.severity) for a in alerts] == [
        ("firing", "info"),
        ("firing", "warning"),
        ("firing", "critical"),
    ]
    assert alerts[0].summary.startswith("BTC 7d 25Δ risk reversal extreme: -9.0 vol points (puts over calls)")


def test_a_brief_excursion_is_not_confirmed_and_calls_over_puts_fire_positive() -> None:
    brief = series([(0, -2, 50, 55), (10, -14, 50, 55), (15, -2, 50, 55)], end=60)
    assert run(brief, 60, "skew_extreme") == []
    squeeze = series([(0, 2, 50, 55), (5, 11, 50, 55)], end=30)
    alerts = run(squeeze, 30, "skew_extreme")
    assert [(a.status, a.direction, a.severity) for a in alerts] == [("firing", "positive", "warning")]


def test_term_inversion_fires_when_the_front_is_above_the_back_and_held() -> None:
    calm = series([(0, -3, 45, 50)], end=90)
    assert run(calm, 90, "iv_term_inversion") == []
    events = series([(0, -3, 45, 50), (10, -8, 72, 63), (60, -3, 50, 52)], end=100)
    alerts = run(events, 100, "iv_term_inversion")
    assert [(a.status, a.direction, a.severity) for a in alerts] == [
        ("firing", "positive", "warning"),
        ("resolved", "positive", "warning"),
    ]
    assert alerts[0].values["spread_vol_pts"] == 9.0
    assert alerts[0].values["front_atm_iv_vol_pts"] == 72.0
    assert "above 30d ATM 63.0 by 9.0 vol points" in alerts[0].summary


def test_a_silent_venue_resolves_the_episode_and_a_gap_drops_its_summary() -> None:
    # The last summary is at minute 39: stale 5 minutes later, resolved 15 minutes after that.
    events = series([(0, -13, 50, 55)], end=40)
    alerts = run(events, 90, "skew_extreme")
    assert [a.status for a in alerts] == ["firing", "resolved"]
    assert at(59) <= alerts[1].ts_ms <= at(60)
    assert alerts[1].values["rr25_vol_pts"] is None
    with_gap = [*series([(0, -13, 50, 55)], end=40), gap(at(40) + 1, "deribit", ("BTC",))]
    resolved = run(with_gap, 90, "skew_extreme")[1]
    assert at(55) <= resolved.ts_ms <= at(56)


def test_a_firing_episode_with_a_steady_reading_waits_quietly_and_resolves_on_time() -> None:
    # A summary every 4 minutes (fresh for 5): firing from minute 10, then nothing can change until the
    # reading moves at minute 24; the exit holds from then, resolved 15 minutes later.
    events = [summary(at(minute), -13 if minute < 24 else -4) for minute in range(0, 60, 4)]
    e = engine()
    alerts = [a for event in with_heartbeats(events, at(60), step_ms=5_000) for a in e.feed(event)]
    assert [(a.status, a.severity) for a in alerts] == [("firing", "critical"), ("resolved", "critical")]
    assert at(10) <= alerts[0].ts_ms <= at(10) + 5_000
    assert alerts[1].ts_ms == at(39)
    options = e.detectors("BTC")
    assert options is not None
    assert options.options.episodes()[0].started_ms is None


def test_a_venue_going_stale_while_another_stays_fresh_changes_the_reading() -> None:
    # Two venues average -10 (warning) until okx falls silent after minute 14; from minute 19 deribit's -5
    # (sent every 4 minutes, the next at minute 20) alone is within the exit level: resolved 15 minutes later.
    okx = [summary(at(minute), -15, venue="okx") for minute in range(15)]
    deribit = [summary(at(minute), -5) for minute in range(0, 60, 4)]
    events = sorted([*deribit, *okx], key=lambda event: event.ts_ms)
    alerts = run(events, 60, "skew_extreme")
    assert [(a.status, a.severity) for a in alerts] == [("firing", "warning"), ("resolved", "warning")]
    assert alerts[0].values["rr25_vol_pts"] == -10.0
    assert at(34) <= alerts[1].ts_ms < at(35)
    assert alerts[1].values["rr25_vol_pts"] == -5.0


def test_states_report_options_episodes() -> None:
    e = engine()
    for event in with_heartbeats(series([(0, -13, 68, 60)], end=15), at(15), step_ms=5_000):
        e.feed(event)
    states = {(kind, direction): value for kind, base, direction, value in e.states() if base == "BTC"}
    assert states[("skew_extreme", "negative")] == 3  # critical
    assert states[("skew_extreme", "positive")] == 0
    assert states[("iv_term_inversion", "positive")] == 2  # warning: 8 vol points


def test_options_settings_are_validated_and_overridable_per_asset() -> None:
    with pytest.raises(ValueError, match="skew_tenor_days must be 7, 30 or 90"):
        OptionsSettings(skew_tenor_days=14)
    with pytest.raises(ValueError, match="term_front_days must be shorter"):
        OptionsSettings(term_front_days=30, term_back_days=7)
    with pytest.raises(ValueError, match="skew levels must rise"):
        OptionsSettings(skew_warning_vol_pts=7.0)
    with pytest.raises(ValueError, match=r"detectors.assets.ETH.options.skew_vol: unknown numeric setting"):
        DetectorSettings(assets={"ETH": AssetOverride(options={"skew_vol": 5.0})})
    settings = DetectorSettings(assets={"ETH": AssetOverride(options={"skew_tenor_days": 30, "skew_vol_pts": 6.0})})
    eth = settings.for_asset("ETH").options
    assert (eth.skew_tenor_days, eth.skew_vol_pts) == (30, 6.0)
    assert settings.for_asset("BTC").options.skew_tenor_days == 7
