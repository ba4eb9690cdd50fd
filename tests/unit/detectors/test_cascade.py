"""Liquidation cascade: firing, escalation, hysteresis, resolution, cooldown, cold start, baseline."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest

from monitor.alert import Alert
from monitor.detectors.config import AssetOverride, DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.events import Event, Liquidation
from tests.unit.detectors.market import T0, gap, liq, with_heartbeats

BASE = {
    "window_s": 60.0,
    "bucket_s": 1.0,
    "floor_usd": 1_000_000.0,
    "min_count": 3.0,
    "warmup_min": 0.0,
    "hold_s": 30.0,
    "cooldown_s": 120.0,
    "exit_ratio": 0.5,
}


def settings(**cascade: float) -> DetectorSettings:
    """BTC with a 60 s window, a $1M floor, 3 liquidations, no warm-up (unless overridden)."""
    return DetectorSettings(assets={"BTC": AssetOverride(asset_class="major", cascade={**BASE, **cascade})})


def at(second: float) -> int:
    return T0 + int(second * 1000)


def run(engine: DetectionEngine, events: list[Event], until_s: float, step_ms: int = 1000) -> list[Alert]:
    out: list[Alert] = []
    for event in with_heartbeats(events, at(until_s), step_ms):
        out += engine.feed(event)
    return [a for a in out if a.kind == "liquidation_cascade"]


def brief(alerts: list[Alert]) -> list[tuple[float, str, str, str]]:
    return [((a.ts_ms - T0) / 1000, a.status, a.severity, a.direction) for a in alerts]


CASES = [
    pytest.param(
        [(0, 400e3), (1, 400e3), (2, 400e3)],
        # $400k left from t=62 (below the $500k exit), held 30 s.
        [(2, "firing", "info", "long"), (92, "resolved", "info", "long")],
        id="fires-at-floor-and-resolves-after-hold",
    ),
    pytest.param([(0, 2e6), (1, 2e6)], [], id="too-few-liquidations"),
    pytest.param([(t, 90e3) for t in range(10)], [], id="below-floor"),
    pytest.param(
        [(0, 400e3), (1, 400e3), (2, 400e3), (3, 1e6), (4, 1e6), (5, 1e6), (6, 1e6)],
        # warning (10x = $2M) is reached at t=3 and critical (25x = $5M) at t=6, each announced once;
        # the last $1M bucket leaves the window at t=67, then the exit condition holds for 30 s.
        [
            (2, "firing", "info", "long"),
            (3, "firing", "warning", "long"),
            (6, "firing", "critical", "long"),
            (97, "resolved", "critical", "long"),
        ],
        id="escalates-once-then-resolves",
    ),
    pytest.param(
        [(0, 400e3), (1, 400e3), (2, 400e3), (80, 300e3), (81, 300e3), (82, 300e3)],
        # Below exit (< $500k) from t=63, back in the hysteresis band at t=80 before the hold ran out,
        # below again from t=142 (only $300k left): resolved once at t=172, never re-fired.
        [(2, "firing", "info", "long"), (172, "resolved", "info", "long")],
        id="hysteresis-band-keeps-firing",
    ),
]


@pytest.mark.parametrize(("burst", "expected"), CASES)
def test_cascade_table(burst: list[tuple[float, float]], expected: list[tuple[float, str, str, str]]) -> None:
    engine = DetectionEngine(settings())
    alerts = run(engine, [liq(at(t), "long", usd) for t, usd in burst], until_s=240)
    assert brief(alerts) == expected


def test_short_liquidations_are_a_squeeze_and_sides_are_separate() -> None:
    engine = DetectionEngine(settings())
    events = [liq(at(t), "short", 500e3) for t in range(3)] + [liq(at(t), "long", 300e3) for t in range(3)]
    alerts = run(engine, events, until_s=10)
    assert brief(alerts) == [(2, "firing", "info", "short")]


def test_cooldown_then_new_episode_with_new_ids() -> None:
    engine = DetectionEngine(settings())
    first = [liq(at(t), "long", 400e3) for t in range(3)]
    during_cooldown = [liq(at(100 + t), "long", 400e3) for t in range(3)]  # resolved at t=92, cooldown to 212
    after = [liq(at(300 + t), "long", 400e3) for t in range(3)]
    alerts = run(engine, first + during_cooldown + after, until_s=320)
    assert brief(alerts) == [
        (2, "firing", "info", "long"),
        (92, "resolved", "info", "long"),
        (302, "firing", "info", "long"),
    ]
    assert len({a.id for a in alerts}) == 3
    assert alerts[0].started_ms != alerts[2].started_ms


def test_cold_start_raises_the_floor_until_warm() -> None:
    engine = DetectionEngine(settings(warmup_min=10.0, warmup_floor_factor=2.0))
    cold = [liq(at(t), "long", 400e3) for t in range(3)]  # $1.2M < $2M warm-up floor
    colder = [liq(at(10 + t), "long", 400e3) for t in range(3)]  # $2.0M reached at t=11: fires
    warm = [liq(at(800 + t), "long", 400e3) for t in range(3)]  # after warm-up $1.2M is enough
    alerts = run(engine, cold + colder + warm, until_s=810)
    assert brief(alerts)[0] == (11, "firing", "info", "long")
    assert alerts[0].values["warming_up"] is True
    assert alerts[0].values["floor_usd"] == 2_000_000.0
    assert brief(alerts)[-1] == (802, "firing", "info", "long")
    assert alerts[-1].values["warming_up"] is False


def test_unpriced_liquidations_count_but_add_no_notional() -> None:
    engine = DetectionEngine(settings())
    events = [liq(at(0), "long", 600e3), liq(at(1), "long", 600e3), liq(at(2), "long", None)]
    alerts = run(engine, events, until_s=5)
    assert brief(alerts) == [(2, "firing", "info", "long")]
    assert alerts[0].values["window_count"] == 3
    assert alerts[0].values["window_usd"] == 1_200_000.0
    only_unpriced = DetectionEngine(settings())
    assert run(only_unpriced, [liq(at(t), "long", None) for t in range(20)], until_s=25) == []


def test_learned_baseline_raises_the_bar_and_is_frozen_while_firing() -> None:
    s = settings(window_s=60.0, baseline_half_life_min=30.0)
    engine = DetectionEngine(s)
    steady = [liq(at(m * 60 + k * 20), "long", 200e3) for m in range(240) for k in range(3)]  # $600k/min
    alerts = run(engine, steady, until_s=240 * 60, step_ms=10_000)
    assert alerts == []
    side = engine.detectors("BTC").long  # type: ignore[union-attr]
    # The clamp (3 × the floor's $200k/min) lets $600k/min in whole: the baseline converges to it.
    assert side.baseline_pm == pytest.approx(600e3, rel=0.02)
    # A $2M minute is above the $1M floor but only ~3× the learned baseline: no alert.
    burst = [liq(at(240 * 60 + 5 + k), "long", 500e3) for k in range(4)]
    assert run(engine, burst, until_s=240 * 60 + 10) == []
    big = [liq(at(240 * 60 + 60 + k), "long", 1e6) for k in range(4)]  # $4M on a $600k baseline
    fired = run(engine, big, until_s=240 * 60 + 70)
    assert [a.status for a in fired] == ["firing"]
    assert fired[0].values["multiple"] >= 5.0
    frozen = side.baseline_pm
    more = [liq(at(240 * 60 + 70 + k * 10), "long", 2e6) for k in range(30)]  # five minutes of heavy flow
    run(engine, more, until_s=240 * 60 + 370)
    assert side.episode.firing
    assert side.baseline_pm == frozen


def test_firing_and_resolved_values_describe_the_episode() -> None:
    engine = DetectionEngine(settings())
    events = [
        liq(at(0), "long", 400e3, price=70_000, venue="binance"),
        liq(at(1), "long", 400e3, price=69_000, venue="bybit"),
        liq(at(2), "long", 400e3, price=68_000, venue="okx"),
        liq(at(20), "long", 900e3, price=66_500, venue="binance"),
    ]
    alerts = run(engine, events, until_s=200)
    firing, escalation, resolved = alerts
    assert escalation.severity == "warning"  # $2.1M is 10.5× the floor's baseline
    assert firing.values["venues"] == {"binance": 400e3, "bybit": 400e3, "okx": 400e3}
    assert firing.values["multiple"] == pytest.approx(6.0)
    assert firing.values["price_move_pct"] == pytest.approx((68_000 / 70_000 - 1) * 100, abs=1e-3)
    assert firing.values["regime"] == "unknown"  # no open-interest data in this test
    assert "BTC long liquidation cascade" in firing.summary
    assert resolved.values["total_usd"] == pytest.approx(2.1e6)
    assert resolved.values["count"] == 4
    assert resolved.values["venues"] == {"binance": 1.3e6, "bybit": 400e3, "okx": 400e3}
    assert resolved.values["price_start"] == 70_000
    assert resolved.values["price_end"] == 66_500
    assert resolved.values["price_change_pct"] == pytest.approx(-5.0)
    assert resolved.values["peak_minute_usd"] == pytest.approx(2.1e6)
    assert resolved.values["duration_s"] == (resolved.ts_ms - firing.started_ms) / 1000
    assert resolved.started_ms == firing.started_ms
    assert resolved.id != firing.id


def test_override_changes_only_the_named_asset() -> None:
    s = settings()
    assert s.for_asset("BTC").cascade.floor_usd == 1_000_000.0
    assert s.for_asset("ETH").cascade.floor_usd == dataclasses.replace(s.major.cascade).floor_usd
    assert s.for_asset("btc").cascade.min_count == 3


def test_resolved_venue_breakdown_sums_to_the_episode_total() -> None:
    """A venue quiet since an earlier episode must not carry that episode's notional into the next one."""
    engine = DetectionEngine(DetectorSettings())
    alerts = []
    t0 = 1_770_000_000_000
    counter = 0

    def burst(start_ms: int, venues: tuple[str, ...], minutes: int) -> None:
        nonlocal counter
        for second in range(minutes * 60):
            for venue in venues:
                counter += 1
                ts = start_ms + second * 1000
                alerts.extend(
                    engine.feed(
                        Liquidation(
                            id=f"l{counter}",
                            venue=venue,
                            symbol="BTCUSDT",
                            base="BTC",
                            quote="USDT",
                            contract="linear",
                            ts_ms=ts,
                            recv_ms=ts,
                            side="long",
                            price=60_000.0,
                            qty_base=1.0,
                            notional_usd=60_000.0,
                        )
                    )
                )

    def quiet(start_ms: int, minutes: int) -> None:
        nonlocal counter
        for second in range(0, minutes * 60, 10):
            counter += 1
            ts = start_ms + second * 1000
            alerts.extend(
                engine.feed(
                    Liquidation(
                        id=f"q{counter}",
                        venue="okx",
                        symbol="BTC-USDT-SWAP",
                        base="BTC",
                        quote="USDT",
                        contract="linear",
                        ts_ms=ts,
                        recv_ms=ts,
                        side="long",
                        price=60_000.0,
                        qty_base=0.01,
                        notional_usd=600.0,
                    )
                )
            )

    quiet(t0, 90)  # warm-up
    burst(t0 + 90 * 60_000, ("binance", "bybit"), 10)  # episode 1 on two venues
    quiet(t0 + 100 * 60_000, 120)  # resolves; long cooldown
    burst(t0 + 220 * 60_000, ("okx",), 10)  # episode 2 on okx only
    quiet(t0 + 230 * 60_000, 120)
    resolved = [a for a in alerts if a.kind == "liquidation_cascade" and a.status == "resolved"]
    assert len(resolved) == 2
    for alert in resolved:
        assert sum(alert.values["venues"].values()) == pytest.approx(alert.values["total_usd"], rel=1e-6)
    assert set(resolved[1].values["venues"]) == {"okx"}


def test_sampled_feeds_are_reported_as_lower_bounds_apart_from_complete_ones() -> None:
    engine = DetectionEngine(settings())

    def sampled(ts: int, usd: float, venue: str) -> Liquidation:
        return msgspec.structs.replace(liq(ts, "long", usd, venue=venue), sampled=True)

    events = [
        sampled(at(0), 400e3, "binance"),
        sampled(at(1), 300e3, "okx"),
        liq(at(2), "long", 500e3, venue="bybit"),
    ]
    firing, resolved = run(engine, events, until_s=200)
    assert firing.values["complete_usd"] == 500e3
    assert firing.values["sampled_usd"] == 700e3
    assert firing.values["sampled_venues"] == ["binance", "okx"]
    assert "≥ $1.2M liquidated" in firing.summary
    assert "Binance and OKX figures are sampled lower bounds" in firing.summary
    assert resolved.values["complete_usd"] == 500e3
    assert resolved.values["sampled_usd"] == 700e3
    assert "Binance and OKX figures are sampled lower bounds" in resolved.summary


def test_complete_feeds_alone_are_not_marked_as_lower_bounds() -> None:
    engine = DetectionEngine(settings())
    events = [liq(at(k), "long", 400e3, venue="bybit") for k in range(3)]
    firing = run(engine, events, until_s=10)[0]
    assert firing.values["sampled_usd"] == 0
    assert firing.values["sampled_venues"] == []
    assert "≥" not in firing.summary
    assert "lower bound" not in firing.summary


@pytest.mark.parametrize(
    ("gap_at_s", "reported"),
    [
        pytest.param(None, [], id="no-disconnect"),
        pytest.param(20, ["bitmex"], id="during-the-episode"),
        pytest.param(-30, ["bitmex"], id="in-the-lead-in"),
        pytest.param(-200, [], id="long-before"),
    ],
)
def test_resolved_report_names_a_venue_disconnected_during_the_episode(
    gap_at_s: float | None, reported: list[str]
) -> None:
    events: list[Event] = [liq(at(-300), "long", 1e3, venue="bybit")]  # the asset is known before the gap
    events += [liq(at(t), "long", 400e3, venue="bybit") for t in (0, 1, 2)]
    events += [liq(at(t), "long", 400e3, venue="bitmex") for t in (3, 4)]
    if gap_at_s is not None:
        events.append(gap(at(gap_at_s), "bitmex", ("BTC",)))
    alerts = run(DetectionEngine(settings()), sorted(events, key=lambda e: e.ts_ms), until_s=200)
    resolved = [a for a in alerts if a.status == "resolved"]
    assert len(resolved) == 1
    assert resolved[0].values["disconnected_venues"] == reported
    assert ("Bitmex disconnected for part of the episode" in resolved[0].summary) == bool(reported)
