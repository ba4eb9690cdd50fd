"""Incremental bookkeeping equals recomputation: funding weights, skipped ticks, bounded windows."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alert import Alert
from monitor.detectors.config import (
    CascadeSettings,
    ClassSettings,
    DetectorSettings,
    FundingSettings,
    OpenInterestSettings,
    RegimeSettings,
)
from monitor.detectors.context import AssetContext
from monitor.detectors.engine import DetectionEngine
from monitor.detectors.funding import FundingAsset
from monitor.events import Event
from tests.unit.detectors.market import T0, fund, gap, liq, oi, with_heartbeats
from tests.unit.detectors.test_options import summary

STALE_S = 30.0
VENUES = ("binance", "bybit", "okx")
SYMBOLS = ("BTCUSDT", "BTCUSDC", "BTCUSD")


def asset() -> FundingAsset:
    return FundingAsset(AssetContext("BTC", T0, RegimeSettings()), FundingSettings(stale_s=STALE_S))


def recomputed(state: FundingAsset, now_ms: int, venue: str | None) -> tuple[float | None, str, dict[str, float]]:
    """The weighted rate from scratch, as the funding docstring defines it."""
    horizon = now_ms - int(STALE_S * 1000)
    fresh = [
        s for s in state.sources.values() if s.usable and s.ts_ms >= horizon and (venue is None or s.venue == venue)
    ]
    if not fresh:
        return None, "none", {}
    weights = [state.ctx.oi_usd.get((s.venue, s.symbol)) or 0.0 for s in fresh]
    known = [w for w in weights if w]
    mode = "oi" if len(known) == len(fresh) else "mixed" if known else "equal"
    fill = sum(known) / len(known) if known else 1.0
    used = [w or fill for w in weights]
    rate = sum(w * s.rate_8h for w, s in zip(used, fresh, strict=True)) / sum(used)
    by_venue: dict[str, float] = {}
    for w, s in zip(used, fresh, strict=True):
        by_venue[s.venue] = by_venue.get(s.venue, 0.0) + w
    return rate, mode, by_venue


def assert_matches(state: FundingAsset, now_ms: int) -> None:
    for venue in (None, *VENUES):
        rate, mode, weights = state.weighted(now_ms, venue)
        expected_rate, expected_mode, expected_weights = recomputed(state, now_ms, venue)
        assert mode == expected_mode
        if expected_rate is None:
            assert rate is None
        else:
            assert rate == pytest.approx(expected_rate, rel=1e-9, abs=1e-15)
        assert weights == pytest.approx(expected_weights, rel=1e-9)


@dataclass(frozen=True)
class Print:
    venue: int
    symbol: int
    dt_ms: int  # from the newest print so far; negative = a late or reordered print
    rate: float


@dataclass(frozen=True)
class Weight:
    venue: int
    symbol: int
    usd: float  # 0.0 = unknown


@dataclass(frozen=True)
class Disconnect:
    venue: int


@dataclass(frozen=True)
class Look:
    dt_ms: int  # from the newest print so far; negative looks into the past


Op = Print | Weight | Disconnect | Look

venue_index = st.integers(0, len(VENUES) - 1)
symbol_index = st.integers(0, len(SYMBOLS) - 1)
operations = st.lists(
    st.one_of(
        st.builds(Print, venue_index, symbol_index, st.integers(-20_000, 25_000), st.floats(-0.003, 0.003)),
        st.builds(
            Weight, venue_index, symbol_index, st.one_of(st.just(0.0), st.floats(1e3, 1e11), st.floats(1e-3, 1.0))
        ),
        st.builds(Disconnect, venue_index),
        st.builds(Look, st.integers(-60_000, 90_000)),
    ),
    min_size=1,
    max_size=120,
)


def apply(state: FundingAsset, ops: list[Op], check: bool) -> None:
    newest = T0
    for op in ops:
        if isinstance(op, Print):
            ts = max(0, newest + op.dt_ms)
            newest = max(newest, ts)
            state.add(fund(ts, op.rate, VENUES[op.venue], symbol=SYMBOLS[op.symbol]), ts, newest)
        elif isinstance(op, Weight):
            state.ctx.set_oi_usd((VENUES[op.venue], SYMBOLS[op.symbol]), op.usd)
        elif isinstance(op, Disconnect):
            state.mark_gap(VENUES[op.venue])
        else:
            state.evaluate(newest + op.dt_ms)
        if check:
            assert_matches(state, newest)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_running_weighted_rate_equals_a_recomputation(ops: list[Op]) -> None:
    apply(asset(), ops, check=True)


def test_running_sums_stay_exact_over_a_long_random_day() -> None:
    """50,000 updates (weights from $1 to $100B, sources coming and going) without drifting."""
    rng = random.Random(11)
    ops: list[Op] = []
    for _ in range(50_000):
        roll = rng.random()
        venue, symbol = rng.randrange(len(VENUES)), rng.randrange(len(SYMBOLS))
        if roll < 0.55:
            ops.append(Print(venue, symbol, rng.choice((0, 5, 50, 500, 5_000, -3_000, 40_000)), rng.gauss(0, 0.0004)))
        elif roll < 0.95:
            ops.append(Weight(venue, symbol, rng.choice((0.0, 10 ** rng.uniform(0, 11)))))
        elif roll < 0.96:
            ops.append(Disconnect(venue))
        else:
            ops.append(Look(rng.randrange(-40_000, 40_000)))
    state = asset()
    apply(state, ops, check=False)
    newest = max(s.ts_ms for s in state.sources.values())
    for dt in (0, 10_000, -10_000, 29_000):
        assert_matches(state, newest + dt)


@pytest.mark.parametrize(
    ("weights", "rates", "expected_rate", "expected_mode"),
    [
        pytest.param({"binance": 9e9, "okx": 1e9}, {"binance": -0.0001, "okx": 0.0003}, -0.00006, "oi", id="oi"),
        pytest.param({"binance": 3e9}, {"binance": 0.0002, "okx": -0.0001}, 0.00005, "mixed", id="mixed-fill"),
        pytest.param({}, {"binance": 0.0002, "okx": -0.0001, "bybit": 0.0002}, 0.0001, "equal", id="equal"),
        pytest.param({"okx": 0.0}, {"okx": 0.0003}, 0.0003, "equal", id="zero-is-unknown"),
    ],
)
def test_weighted_rate_table(
    weights: dict[str, float], rates: dict[str, float], expected_rate: float, expected_mode: str
) -> None:
    state = asset()
    for venue, usd in weights.items():
        state.ctx.set_oi_usd((venue, "BTCUSDT"), usd)
    for venue, printed in rates.items():
        state.add(fund(T0, printed, venue), T0, T0)
    rate, mode, _ = state.weighted(T0)
    assert rate == pytest.approx(expected_rate)
    assert mode == expected_mode


def test_weight_change_after_the_print_moves_the_rate() -> None:
    state = asset()
    state.add(fund(T0, -0.0001, "binance"), T0, T0)
    state.add(fund(T0, 0.0003, "okx"), T0, T0)
    assert state.weighted(T0)[0] == pytest.approx(0.0001)  # no weights yet: equal
    state.ctx.set_oi_usd(("binance", "BTCUSDT"), 3e9)
    state.ctx.set_oi_usd(("okx", "BTCUSDT"), 1e9)
    assert state.weighted(T0)[0] == pytest.approx(0.0)
    state.ctx.set_oi_usd(("okx", "BTCUSDT"), 3e9)
    assert state.weighted(T0)[0] == pytest.approx(0.0001)


def test_stale_source_leaves_and_comes_back_with_its_new_print() -> None:
    state = asset()
    state.add(fund(T0, 0.0004, "binance"), T0, T0)
    state.add(fund(T0 + 20_000, 0.0001, "okx"), T0 + 20_000, T0 + 20_000)
    assert state.weighted(T0 + 20_000)[0] == pytest.approx(0.00025)
    assert state.weighted(T0 + 40_000)[0] == pytest.approx(0.0001)  # binance is 40 s old: stale
    state.add(fund(T0 + 41_000, 0.0003, "binance"), T0 + 41_000, T0 + 41_000)
    assert state.weighted(T0 + 41_000)[0] == pytest.approx(0.0002)


def test_engine_reweights_funding_from_later_open_interest() -> None:
    engine = DetectionEngine(DetectorSettings())
    for event in (
        fund(T0, -0.0001, "binance"),
        fund(T0, 0.0003, "okx"),
        oi(T0 + 1_000, 100_000.0, "binance", price=90_000.0),  # $9B
        oi(T0 + 1_000, 10_000.0, "okx", price=100_000.0),  # $1B
        fund(T0 + 6_000, 0.0001, "bybit", base="ZZZ"),  # moves the clock past the next evaluation
    ):
        engine.feed(event)
    state = engine.detectors("BTC")
    assert state is not None
    assert state.funding.weighting == "oi"
    assert state.funding.rate == pytest.approx((9 * -0.0001 + 1 * 0.0003) / 10)


# ---------------------------------------------------------------------- skipped tick evaluations

BASES = ("BTC", "SOL", "PEPE")
events = st.lists(
    st.one_of(
        st.builds(
            lambda t, side, usd, venue, base: liq(T0 + t, side, usd, venue=venue, base=base),
            st.integers(0, 900_000),
            st.sampled_from(["long", "short"]),
            st.floats(0, 2_000_000),
            st.sampled_from(VENUES),
            st.sampled_from(BASES),
        ),
        st.builds(
            lambda t, rate, venue, base: fund(T0 + t, rate, venue, base=base),
            st.integers(0, 900_000),
            st.floats(-0.002, 0.002),
            st.sampled_from(VENUES),
            st.sampled_from(BASES),
        ),
        st.builds(
            lambda t, value, venue, base: oi(T0 + t, value, venue, base=base),
            st.integers(0, 900_000),
            st.floats(50_000, 150_000),
            st.sampled_from(VENUES),
            st.sampled_from(BASES),
        ),
        st.builds(lambda t, venue: gap(T0 + t, venue), st.integers(0, 900_000), st.sampled_from(VENUES)),
        st.builds(
            lambda t, rr, atm, venue: summary(T0 + t, rr, atm7=atm, venue=venue),
            st.integers(0, 900_000),
            st.floats(-25, 25),
            st.floats(30, 90),
            st.sampled_from(["deribit", "okx"]),
        ),
    ),
    min_size=1,
    max_size=250,
).map(lambda stream: sorted(stream, key=lambda e: e.ts_ms))

SMALL = DetectorSettings(
    majors=(),
    large_caps=(),
    small_cap=ClassSettings(
        cascade=CascadeSettings(window_s=60.0, bucket_s=1.0, floor_usd=500_000.0, min_count=3, warmup_min=1.0),
        funding=FundingSettings(confirm_s=20.0, settle_s=120.0, hold_s=10.0, cooldown_s=30.0, stale_s=60.0),
        open_interest=OpenInterestSettings(window_s=120.0, bucket_s=1.0, hold_s=10.0, cooldown_s=30.0, stale_s=30.0),
    ),
)


def fingerprint(engine: DetectionEngine) -> list[object]:
    """Everything a skipped evaluation could have changed, read without touching anything."""
    out: list[object] = []
    for base in engine.assets:
        state = engine.detectors(base)
        assert state is not None
        for side in (state.long, state.short):
            window, minute = side.window, side.minute
            out += [side._minute_start, side.baseline_pm, window.total, window.count, len(window), minute.total]
            out += [len(minute), side.episode.started_ms, side.episode.severity]
        for group in (state.oi.total, *state.oi.venues.values()):
            out += [group.current, group.high, group.low, group.sources, group.collapse.started_ms]
        out += [(s.counted, s.extremes.entries()) for s in state.oi.sources.values()]
        out += [state.funding.rate, state.funding.weighting, state.ctx.oi_change_pct]
        ctx, flips = state.ctx, [state.funding.flip, *state.funding.venue_flips.values()]
        funding = ctx.funding_range
        out += [ctx.funding_now, funding.high(), funding.low(), funding.entries()]
        out += [(f.sign, f._candidate, f._candidate_since, f._extreme) for f in flips]
        watches = (*state.options.skew.values(), state.options.term)
        out += [(w.beyond_since_ms, w.extreme, w.episode.started_ms, w.episode.severity) for w in watches]
    return out


def forget_quiet(engine: DetectionEngine) -> None:
    """Drop every "nothing can change before T" so each evaluation runs in full."""
    for base in engine.assets:
        state = engine.detectors(base)
        assert state is not None
        state.long._quiet_until = state.short._quiet_until = 0
        oi = state.oi
        oi._due_ms = 0
        for source in oi.sources.values():
            source.due_ms = 0
        for group in (oi.total, *oi.venues.values()):
            group.idle = False
        state.funding._evaluated_ms = None
        state.options._quiet_until = 0
        state.options._readings_valid = (0, 0)
        for tracker in (state.funding.flip, *state.funding.venue_flips.values()):
            tracker.settled = False


class EveryAsset(DetectionEngine):
    """Visits every asset at every tick instead of only the due ones, each evaluation in full."""

    def advance(self, now_ms: int) -> list[Alert]:
        now = max(now_ms, self.clock_ms)
        alerts: list[Alert] = []
        for base in self.assets:
            state = self.detectors(base)
            assert state is not None
            state.funding._evaluated_ms = None
            alerts += state.evaluate(now)
        return alerts


@settings(max_examples=80, deadline=None)
@given(events)
def test_skipping_quiet_evaluations_changes_nothing(stream: list[Event]) -> None:
    """Deadline scheduling and the detectors' own quiet times give what evaluating everything in full gives."""
    skipping, full = DetectionEngine(SMALL), EveryAsset(SMALL)
    for event in stream:
        forget_quiet(full)
        assert skipping.feed(event) == full.feed(event)
        assert fingerprint(skipping) == fingerprint(full)


def test_an_idle_side_still_fires_when_its_warm_up_ends() -> None:
    """Between liquidations an idle side is not re-evaluated, except when the cold-start floor drops."""
    engine = DetectionEngine(SMALL)
    first = T0 + 30_000  # warm from T0 + 90 s; the next minute closes at T0 + 120 s
    burst: list[Event] = [liq(first, "long", 1.0), *(liq(T0 + 85_000 + i * 1000, "long", 250_000.0) for i in range(3))]
    alerts = [a for e in with_heartbeats(burst, T0 + 130_000) for a in engine.feed(e) if a.base == "BTC"]
    # $750k: below the cold floor (2 × $500k), above the warm one; fires on the first tick once warm.
    assert [(a.status, a.ts_ms - T0) for a in alerts] == [("firing", 90_000)]


def test_venue_windows_stay_bounded_between_episodes() -> None:
    engine = DetectionEngine(DetectorSettings())
    for i in range(3 * 3600):  # three hours of one $100 liquidation a second, never an episode
        engine.feed(liq(T0 + i * 1000, "long", 100.0, venue=VENUES[i % 3]))
    state = engine.detectors("BTC")
    assert state is not None
    side = state.long
    limit = side.window_ms // side.window.bucket_ms + 1
    assert side.venues.keys() == set(VENUES)
    assert all(len(window) <= limit for window in side.venues.values())
    assert sum(w.total for w in side.venues.values()) == pytest.approx(side.window_usd(engine.clock_ms))


def test_funding_evaluated_once_per_event_time_gives_what_evaluating_again_gives() -> None:
    """Flips, settles and extremes on three venues: the engine's repeated evaluations at one event time add nothing."""
    rng = random.Random(16)
    stream: list[Event] = []
    for i in range(1_800):  # 30 minutes, a print every second per venue in turn, the sign turning every few minutes
        t = T0 + i * 1000
        sign = 1 if (i // 170) % 2 == 0 else -1
        size = 0.004 if (i // 400) % 2 else 0.0002  # extreme stretches (beyond 100 % a year) in between
        venue = VENUES[i % 3]
        stream.append(fund(t + rng.randrange(0, 1000), sign * size * rng.uniform(0.3, 1.6), venue))
        if i % 7 == 0:
            stream.append(oi(t + rng.randrange(0, 1000), rng.uniform(1_000, 3_000), VENUES[(i // 7) % 3]))
        if i % 450 == 449:
            stream.append(gap(t + 500, VENUES[(i // 450) % 3]))
    stream.sort(key=lambda e: e.ts_ms)
    skipping, full = DetectionEngine(SMALL), EveryAsset(SMALL)
    raised: list[Alert] = []
    for event in stream:
        forget_quiet(full)
        alerts = skipping.feed(event)
        assert alerts == full.feed(event)
        assert fingerprint(skipping) == fingerprint(full)
        raised += alerts
    assert {a.kind for a in raised} >= {"funding_flip", "funding_extreme"}


def test_a_print_at_the_same_event_time_is_taken_by_the_next_evaluation() -> None:
    state = asset()
    state.add(fund(T0, 0.0001, "bybit"), T0, T0)  # evaluated at T0
    assert state.rate == pytest.approx(0.0001)
    state.add(fund(T0, -0.0003, "okx"), T0, T0)  # within the second: not evaluated yet
    state.evaluate(T0)
    assert state.rate == pytest.approx(-0.0001)
