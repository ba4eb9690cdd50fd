"""Smile, tenors and open interest from chains built on a known smile, checked against closed-form values."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from monitor.options.smile import (
    YEAR_MS,
    Pillars,
    Quote,
    StrikeLadder,
    call_delta,
    norm_cdf,
    pillars,
    smile,
    smile_pillars,
)
from monitor.options.summary import (
    ChainOption,
    Tenor,
    interpolate_total_variance,
    open_interest,
    summarize,
    tenors,
)

NOW_MS = 1_770_000_000_000
DAY_MS = 86_400_000
VOL_POINT = 0.001  # 0.1 vol point
Smile = Callable[[float], float]


def quadratic(a: float, b: float, c: float) -> Smile:
    """IV as a function of call delta: a + b(Δ − ½) + c(Δ − ½)². RR25 = −b/2, wings' mean = a + c/16."""
    return lambda d: a + b * (d - 0.5) + c * (d - 0.5) ** 2


def strike_iv(vol: Smile, forward: float, strike: float, t: float) -> float:
    """The IV the smile gives ``strike``: the call delta Δ with Δ = N(d1(σ(Δ))), by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if call_delta(forward, strike, vol(mid), t) > mid:
            lo = mid
        else:
            hi = mid
    return vol(0.5 * (lo + hi))


def atm_iv(vol: Smile, t: float) -> float:
    """IV at the forward: σ = σ(N(σ√T/2)), by fixed-point iteration."""
    sigma = vol(0.5)
    for _ in range(200):
        sigma = vol(norm_cdf(0.5 * sigma * math.sqrt(t)))
    return sigma


def chain(vol: Smile, forward: float, days: float, step: float = 1000.0) -> list[ChainOption]:
    """Calls and puts on round strikes from half to twice the forward, IVs from the smile."""
    t = days * DAY_MS / YEAR_MS
    expiry = NOW_MS + int(days * DAY_MS)
    out = []
    strike = step
    while strike <= 2.0 * forward:
        if strike >= 0.5 * forward:
            iv = strike_iv(vol, forward, strike, t)
            out.append(ChainOption(expiry, strike, True, iv, 1.0))
            out.append(ChainOption(expiry, strike, False, iv, 1.0))
        strike += step
    return out


def test_call_delta_closed_form() -> None:
    # At the forward d1 = σ√T/2; a put's delta is the call's minus one.
    assert call_delta(100.0, 100.0, 0.2, 1.0) == pytest.approx(norm_cdf(0.1), abs=1e-12)
    assert norm_cdf(0.1) == pytest.approx(0.539827837, abs=1e-9)
    assert call_delta(100.0, 50.0, 0.2, 1.0) > 0.999
    assert call_delta(100.0, 200.0, 0.2, 1.0) < 0.001


def test_smile_takes_the_out_of_the_money_option() -> None:
    quotes = [Quote(90.0, True, 0.9), Quote(90.0, False, 0.5), Quote(110.0, True, 0.4), Quote(110.0, False, 0.8)]
    assert smile(quotes, 100.0) == [(90.0, 0.5), (110.0, 0.4)]
    # A strike with only one side keeps it; a zero or NaN IV is no quote.
    assert smile([Quote(90.0, True, 0.7), Quote(95.0, False, math.nan), Quote(96.0, False, 0.0)], 100.0) == [
        (90.0, 0.7)
    ]


def test_a_ladder_reads_new_ivs_and_forwards_without_being_rebuilt() -> None:
    ladder = StrikeLadder([("c110", 110.0, True), ("p90", 90.0, False), ("c90", 90.0, True), ("p110", 110.0, False)])
    ivs = {"c90": 0.9, "p90": 0.5, "c110": 0.4, "p110": 0.8}
    assert ladder.smile(ivs, 100.0) == [(90.0, 0.5), (110.0, 0.4)]
    # The forward moves above 110: every strike's out-of-the-money option is now the put.
    assert ladder.smile(ivs, 120.0) == [(90.0, 0.5), (110.0, 0.8)]
    # An option without an IV is no quote: its strike falls back to the other side, or drops out.
    assert ladder.smile({"c90": 0.9, "c110": 0.4}, 100.0) == [(90.0, 0.9), (110.0, 0.4)]
    assert ladder.smile({}, 100.0) == []
    # Two options of one strike and kind: the first listed counts.
    assert StrikeLadder([("a", 90.0, False), ("b", 90.0, False), ("c", -1.0, True)]).smile(
        {"a": 0.6, "b": 0.7, "c": 0.8}, 100.0
    ) == [(90.0, 0.6)]


def test_the_first_strikes_that_bracket_25_delta_count() -> None:
    # A smile whose call deltas turn back up (a steep right wing): 0.25 is bracketed twice, the first pair counts.
    forward, t = 100.0, 0.1
    points = [(80.0, 0.5), (100.0, 0.5), (120.0, 0.5), (140.0, 3.0)]
    deltas = [call_delta(forward, k, iv, t) for k, iv in points]
    assert deltas[2] < 0.25 < deltas[1]
    assert deltas[3] > 0.25
    got = smile_pillars(points, forward, t)
    expected = 0.5 + (0.5 - 0.5) * (0.25 - deltas[1]) / (deltas[2] - deltas[1])
    assert got.call25 == expected
    assert got.put25 is not None
    assert smile_pillars(points, forward, 0.0).atm is None


def test_a_strike_alone_or_a_pair_short_of_25_delta_brackets_nothing() -> None:
    # A bracket needs two neighbouring strikes: the first strike has none before it.
    forward, t = 100.0, 0.25
    assert smile_pillars([(forward, 0.5)], forward, t) == Pillars(atm=0.5, call25=None, put25=None)
    # Two strikes far in the money share the call delta 1.0: a flat pair brackets nothing below it.
    deep = [(1.0, 0.4), (2.0, 0.6)]
    assert [call_delta(forward, k, iv, t) for k, iv in deep] == [1.0, 1.0]
    assert smile_pillars(deep, forward, t).put25 is None


@pytest.mark.parametrize(
    ("days", "a", "b", "c"),
    [(7.0, 0.55, 0.26, 0.40), (30.0, 0.50, 0.16, 0.30), (30.0, 0.45, -0.10, 0.20), (90.0, 0.48, 0.0, 0.0)],
)
def test_pillars_of_a_known_smile(days: float, a: float, b: float, c: float) -> None:
    vol = quadratic(a, b, c)
    forward = 70_250.0
    t = days * DAY_MS / YEAR_MS
    options = chain(vol, forward, days)
    quotes = [Quote(o.strike, o.is_call, o.iv) for o in options if o.iv is not None]
    got = pillars(quotes, forward, t)
    assert got.call25 is not None
    assert got.put25 is not None
    assert got.atm is not None
    assert got.call25 == pytest.approx(vol(0.25), abs=VOL_POINT)
    assert got.put25 == pytest.approx(vol(0.75), abs=VOL_POINT)
    assert got.call25 - got.put25 == pytest.approx(-b / 2.0, abs=VOL_POINT)
    assert got.atm == pytest.approx(atm_iv(vol, t), abs=VOL_POINT)


def test_strikes_that_do_not_reach_25_delta_give_none() -> None:
    # Strikes within ±2 % of the forward at 30 days: the 25Δ points lie outside them.
    vol = quadratic(0.5, 0.2, 0.3)
    options = [o for o in chain(vol, 70_000.0, 30.0) if 68_600.0 <= o.strike <= 71_400.0]
    got = pillars([Quote(o.strike, o.is_call, o.iv) for o in options if o.iv], 70_000.0, 30 / 365)
    assert got.atm is not None
    assert got.call25 is None
    assert got.put25 is None


def test_constant_maturities_interpolate_total_variance_between_bracketing_expiries() -> None:
    forward = 70_000.0
    # An inverted term structure with skew steepest at the front, as in a crash.
    expiries = {3.0: (0.80, 0.30, 0.40), 10.0: (0.70, 0.26, 0.36), 45.0: (0.58, 0.16, 0.30), 120.0: (0.52, 0.10, 0.2)}
    options = [o for days, abc in expiries.items() for o in chain(quadratic(*abc), forward, days)]
    forwards = {NOW_MS + int(days * DAY_MS): forward for days in expiries}
    got = summarize(options, forwards, NOW_MS)

    def exact(days: float, pillar: Callable[[Smile, float], float], t1: float, t2: float) -> float:
        v1, v2 = quadratic(*expiries[t1]), quadratic(*expiries[t2])
        y1, y2, y = t1 / 365, t2 / 365, days / 365
        w1, w2 = pillar(v1, y1) ** 2 * y1, pillar(v2, y2) ** 2 * y2
        return math.sqrt((w1 + (w2 - w1) * (y - y1) / (y2 - y1)) / y)

    def c25(v: Smile, t: float) -> float:
        return v(0.25)

    def p25(v: Smile, t: float) -> float:
        return v(0.75)

    for days, (t1, t2) in {7: (3.0, 10.0), 30: (10.0, 45.0), 90: (45.0, 120.0)}.items():
        tenor = got.tenors[days]
        call, put, atm = exact(days, c25, t1, t2), exact(days, p25, t1, t2), exact(days, atm_iv, t1, t2)
        assert tenor.atm_iv == pytest.approx(atm, abs=VOL_POINT)
        assert tenor.rr25 == pytest.approx(call - put, abs=VOL_POINT)
        assert tenor.bf25 == pytest.approx(0.5 * (call + put) - atm, abs=VOL_POINT)
    assert got.tenors[7].atm_iv > got.tenors[30].atm_iv > got.tenors[90].atm_iv
    assert got.tenors[7].rr25 < -0.10


def test_tenors_outside_the_listed_expiries_are_omitted() -> None:
    forward = 70_000.0
    vol = quadratic(0.5, 0.1, 0.2)
    options = chain(vol, forward, 10.0) + chain(vol, forward, 45.0)
    forwards = {NOW_MS + 10 * DAY_MS: forward, NOW_MS + 45 * DAY_MS: forward}
    got = summarize(options, forwards, NOW_MS)
    assert set(got.tenors) == {30}
    # An expiry without a forward has no smile: nothing brackets 30 days any more.
    assert summarize(options, {NOW_MS + 10 * DAY_MS: forward}, NOW_MS).tenors == {}
    # Expired options count for nothing.
    assert summarize(options, forwards, NOW_MS + 11 * DAY_MS).tenors == {}


def test_total_variance_interpolation_closed_form() -> None:
    points = [(0.1, 0.6), (0.3, 0.5)]
    expected = math.sqrt((0.036 + (0.075 - 0.036) * 0.5) / 0.2)
    assert interpolate_total_variance(points, 0.2) == pytest.approx(expected, rel=1e-12)
    assert interpolate_total_variance(points, 0.1) == 0.6
    assert interpolate_total_variance(points, 0.05) is None
    assert interpolate_total_variance(points, 0.35) is None


def test_a_tenor_on_a_complete_expiry_is_its_pillars_and_incomplete_expiries_do_not_count() -> None:
    seven, thirty, ninety = 7 / 365.0, 30 / 365.0, 90 / 365.0
    by_expiry = [
        (seven, Pillars(0.6, 0.55, 0.7)),
        (0.05, Pillars(0.9, None, 0.9)),  # no 25-delta call: not an expiry of the term structure
        (thirty, Pillars(0.5, 0.45, 0.6)),
        (0.2, Pillars(0.45, 0.4, 0.55)),
    ]
    got = tenors(by_expiry)
    assert got[7] == Tenor(atm_iv=0.6, rr25=0.55 - 0.7, bf25=0.5 * (0.55 + 0.7) - 0.6)
    assert got[30] == Tenor(atm_iv=0.5, rr25=0.45 - 0.6, bf25=0.5 * (0.45 + 0.6) - 0.5)
    assert 90 not in got  # beyond the last complete expiry (0.2 y < 90 d): never extrapolated
    # Between two complete expiries each pillar is interpolated on its own, as interpolate_total_variance does.
    inside = tenors([(seven, Pillars(0.6, 0.55, 0.7)), (ninety, Pillars(0.5, 0.45, 0.6))], days=(30,))[30]
    atm = interpolate_total_variance([(seven, 0.6), (ninety, 0.5)], thirty)
    call = interpolate_total_variance([(seven, 0.55), (ninety, 0.45)], thirty)
    put = interpolate_total_variance([(seven, 0.7), (ninety, 0.6)], thirty)
    assert atm is not None
    assert call is not None
    assert put is not None
    assert inside == Tenor(atm_iv=atm, rr25=call - put, bf25=0.5 * (call + put) - atm)
    assert tenors([(0.05, Pillars(None, 0.5, 0.5))]) == {}


def test_open_interest_ratio_and_top_puts_by_strike() -> None:
    e1, e2 = NOW_MS + DAY_MS, NOW_MS + 20 * DAY_MS
    options = [
        ChainOption(e1, 60_000.0, False, 0.6, 300.0),
        ChainOption(e2, 60_000.0, False, 0.6, 500.0),  # summed over expiries: 800
        ChainOption(e2, 50_000.0, False, 0.7, 650.0),
        ChainOption(e1, 55_000.0, False, 0.7, 650.0),  # a tie: the lower strike first
        ChainOption(e2, 80_000.0, True, 0.5, 700.0),
        ChainOption(e1, 90_000.0, True, None, 350.0),  # OI counts without an IV
        *(ChainOption(e2, 30_000.0 + 1000.0 * i, False, 0.8, 10.0 + i) for i in range(12)),
    ]
    ratio, top = open_interest(options)
    puts = 300 + 500 + 650 + 650 + sum(10.0 + i for i in range(12))
    assert ratio == pytest.approx(puts / 1050.0)
    assert top[:3] == ((60_000.0, 800.0), (50_000.0, 650.0), (55_000.0, 650.0))
    assert len(top) == 10
    assert [oi for _, oi in top] == sorted((oi for _, oi in top), reverse=True)
    assert open_interest([ChainOption(e1, 1.0, False, None, 5.0)])[0] is None
