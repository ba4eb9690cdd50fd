"""Properties over random event streams: episode discipline, the floor, determinism."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alert import Alert
from monitor.detectors.config import AssetOverride, DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.events import Event
from tests.unit.detectors.market import T0, fund, liq, oi

FLOOR = 1_000_000.0
SETTINGS = DetectorSettings(
    assets={
        "BTC": AssetOverride(
            cascade={
                "window_s": 60.0,
                "bucket_s": 1.0,
                "floor_usd": FLOOR,
                "min_count": 3.0,
                "warmup_min": 0.0,
                "hold_s": 10.0,
                "cooldown_s": 30.0,
            },
            funding={"confirm_s": 20.0, "settle_s": 120.0, "hold_s": 10.0, "cooldown_s": 30.0},
            open_interest={"window_s": 120.0, "bucket_s": 1.0, "hold_s": 10.0, "cooldown_s": 30.0, "stale_s": 30.0},
        ),
    }
)

liquidations = st.builds(
    lambda t, side, usd, venue: liq(T0 + t, side, usd, venue=venue),
    st.integers(0, 600_000),
    st.sampled_from(["long", "short"]),
    st.one_of(st.none(), st.floats(0, 3_000_000)),
    st.sampled_from(["binance", "bybit", "okx"]),
)
fundings = st.builds(
    lambda t, rate, venue: fund(T0 + t, rate, venue=venue),
    st.integers(0, 600_000),
    st.floats(-0.002, 0.002),
    st.sampled_from(["binance", "bybit"]),
)
interests = st.builds(
    lambda t, value, venue: oi(T0 + t, value, venue=venue),
    st.integers(0, 600_000),
    st.floats(50_000, 150_000),
    st.sampled_from(["binance", "bybit"]),
)
streams = st.lists(st.one_of(liquidations, fundings, interests), min_size=1, max_size=300).map(
    lambda events: sorted(events, key=lambda e: e.ts_ms)
)
jittered = st.lists(st.one_of(liquidations, fundings, interests), min_size=1, max_size=300)


def run(events: list[Event]) -> list[Alert]:
    engine = DetectionEngine(SETTINGS)
    out: list[Alert] = []
    for event in events:
        out += engine.feed(event)
    return out


def check_episodes(alerts: list[Alert]) -> None:
    ids = Counter(a.id for a in alerts)
    assert all(n == 1 for n in ids.values()), "an alert id was emitted twice"
    open_episodes: set[tuple[str, str, str | None, str, int]] = set()
    resolved: set[tuple[str, str, str | None, str, int]] = set()
    for alert in alerts:
        key = (alert.kind, alert.base, alert.venue, alert.direction, alert.started_ms)
        if alert.status == "firing":
            assert key not in resolved, "firing after the episode was resolved"
            open_episodes.add(key)
        else:
            assert key in open_episodes, "resolved without a firing"
            assert key not in resolved, "resolved twice"
            resolved.add(key)


@settings(max_examples=80, deadline=None)
@given(streams)
def test_every_firing_is_followed_by_at_most_one_resolved(events: list[Event]) -> None:
    check_episodes(run(events))


@settings(max_examples=60, deadline=None)
@given(jittered)
def test_episode_discipline_holds_for_unordered_input(events: list[Event]) -> None:
    check_episodes(run(events))


@settings(max_examples=80, deadline=None)
@given(streams)
def test_no_cascade_alert_below_the_floor(events: list[Event]) -> None:
    for alert in run(events):
        if alert.kind == "liquidation_cascade" and alert.status == "firing":
            assert alert.values["window_usd"] >= FLOOR
            assert alert.values["window_count"] >= 3


@settings(max_examples=50, deadline=None)
@given(jittered)
def test_replaying_the_same_events_gives_identical_alerts(events: list[Event]) -> None:
    assert run(events) == run(events)


# The fast path on too, with a lower count than the main window, so both entry rules are exercised.
SINGLE = DetectorSettings(
    assets={
        "BTC": AssetOverride(
            cascade={
                "window_s": 60.0,
                "bucket_s": 1.0,
                "floor_usd": FLOOR,
                "min_count": 4.0,
                "fast_window_s": 10.0,
                "fast_floor_usd": 1_500_000.0,
                "fast_min_count": 3.0,
                "fast_warning_usd": 3_000_000.0,
                "fast_critical_usd": 6_000_000.0,
                "warmup_min": 0.0,
                "hold_s": 10.0,
                "cooldown_s": 30.0,
            },
            open_interest={"window_s": 120.0, "bucket_s": 1.0, "hold_s": 10.0, "cooldown_s": 30.0, "stale_s": 30.0},
        ),
    }
)
any_size = st.one_of(st.floats(0, 1e10), st.sampled_from([0.0, 1e6, 1e9, 1e10]))  # the event model bounds
last_liquidation = st.builds(
    lambda side, usd, price, venue: (side, usd, price, venue),
    st.sampled_from(["long", "short"]),
    any_size,
    st.one_of(st.just(70_000.0), st.floats(1e-3, 1e8)),
    st.sampled_from(["binance", "bybit", "okx"]),
)
last_interest = st.builds(
    lambda value, venue: (value, venue),
    st.one_of(st.just(0.0), st.floats(0, 1e7)),  # up to $700B at 70k: within the event model bounds
    st.sampled_from(["binance", "bybit"]),
)


@settings(max_examples=120, deadline=None)
@given(streams, st.one_of(last_liquidation, last_interest))
def test_no_single_event_fires_a_detector_without_the_floor_and_the_count(
    events: list[Event], last: tuple[object, ...]
) -> None:
    """Whatever its size, the one event that moves a detector from idle to firing is not alone.

    A cascade it fires meets the floor with at most half of it from this one liquidation, and the
    distinct-count rule of the window (main or fast) that fired. A held open-interest print (zero,
    or far from its source's last value) moves nothing at all.
    """
    engine = DetectionEngine(SINGLE)
    for event in events:
        engine.feed(event)
    firing = {(v.kind, v.venue, v.direction) for v in engine.firing()}
    t = engine.clock_ms
    final: Event
    if len(last) == 4:
        side, usd, price, venue = last
        final = liq(t, str(side), float(usd), price=float(price), venue=str(venue))  # type: ignore[arg-type]
    else:
        value, venue = last
        final = oi(t, float(value), venue=str(venue))  # type: ignore[arg-type]
    alerts = engine.feed(final)  # at the current clock: no tick, so every alert comes from this event
    if engine.last_outcome != "processed":
        assert alerts == []  # held or implausible: it moved nothing
        return
    own = getattr(final, "notional_usd", None) or 0.0
    for alert in alerts:
        if (
            alert.kind != "liquidation_cascade"
            or alert.status != "firing"
            or (alert.kind, None, alert.direction) in firing
        ):
            continue
        values = alert.values
        main = values["window_count"] >= 4 and values["window_usd"] - own >= FLOOR * 0.5 * (1 - 1e-9)
        fast = values["fast_count"] >= 3 and values["fast_usd"] - own >= 1_500_000.0 * 0.5 * (1 - 1e-9)
        assert main or fast
