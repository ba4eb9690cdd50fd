"""A whole option chain → constant-maturity tenors, put/call OI ratio and the largest put OI by strike.

Each expiry's ATM, 25Δ call and 25Δ put IV come from :func:`monitor.options.smile.pillars`.
A constant maturity of ``d`` days is interpolated linearly in total variance
(IV² × T) between the two listed expiries that bracket it, pillar by pillar,
over the expiries where all three pillars exist; a tenor shorter than the
first such expiry or longer than the last is omitted, never extrapolated.
RR25 = IV(25Δ call) − IV(25Δ put); BF25 = their mean − ATM.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from monitor.options.smile import YEAR_MS, K, Pillars, StrikeLadder, smile_pillars

TENOR_DAYS: Final = (7, 30, 90)
PUT_OI_TOP_N: Final = 10


@dataclass(frozen=True, slots=True)
class ChainOption:
    """One listed option: expiry, strike, call or put, mark IV (fraction, None when unknown), OI in coins."""

    expiry_ms: int
    strike: float
    is_call: bool
    iv: float | None
    oi: float


@dataclass(frozen=True, slots=True)
class Tenor:
    """One constant maturity's ATM IV, RR25 and BF25, as fractions."""

    atm_iv: float
    rr25: float
    bf25: float


@dataclass(frozen=True, slots=True)
class ChainSummary:
    """What ``options_summary`` carries besides the venue's own numbers."""

    tenors: dict[int, Tenor]
    put_call_oi_ratio: float | None
    put_oi_top: tuple[tuple[float, float], ...]


def _bracket(times: Sequence[float], t_years: float) -> tuple[int, int] | None:
    """The positions in ``times`` (ascending) the value at ``t_years`` comes from: (i, i) when ``times[i]`` is
    ``t_years``, (i, i + 1) when they bracket it, None when it lies outside (never extrapolated)."""
    hi = bisect.bisect_left(times, t_years)
    if hi < len(times) and times[hi] == t_years:
        return hi, hi
    if 0 < hi < len(times):
        return hi - 1, hi
    return None


def _total_variance_between(t1: float, iv1: float, t2: float, iv2: float, t_years: float) -> float:
    """IV at ``t_years`` (strictly between ``t1`` and ``t2``), linear in IV²×T."""
    w1, w2 = iv1 * iv1 * t1, iv2 * iv2 * t2
    w = w1 + (w2 - w1) * (t_years - t1) / (t2 - t1)
    return math.sqrt(max(w, 0.0) / t_years)


def interpolate_total_variance(points: Sequence[tuple[float, float]], t_years: float) -> float | None:
    """IV at ``t_years`` from (T, IV) points sorted by T, linear in IV²×T between the bracketing pair."""
    found = _bracket([t for t, _ in points], t_years)
    if found is None:
        return None
    (t1, iv1), (t2, iv2) = points[found[0]], points[found[1]]
    return iv1 if found[0] == found[1] else _total_variance_between(t1, iv1, t2, iv2, t_years)


def ladder_pillars(
    ladders: Iterable[tuple[int, StrikeLadder[K]]], ivs: Mapping[K, float], forwards: Mapping[int, float], now_ms: int
) -> list[tuple[float, Pillars]]:
    """(T in years, pillars) of every unexpired expiry with a forward and a quote, by ascending T.

    ``ladders`` are (expiry, its options) by ascending expiry; ``ivs`` holds the options' IVs by key.
    """
    result = []
    for expiry_ms, ladder in ladders:
        forward = forwards.get(expiry_ms)
        t_years = (expiry_ms - now_ms) / YEAR_MS
        if forward is None or forward <= 0.0 or t_years <= 0.0:
            continue
        points = ladder.smile(ivs, forward)
        if points:
            result.append((t_years, smile_pillars(points, forward, t_years)))
    return result


def expiry_pillars(
    options: Iterable[ChainOption], forwards: Mapping[int, float], now_ms: int
) -> list[tuple[float, Pillars]]:
    """(T in years, pillars) of every unexpired expiry with a forward and a quote, by ascending T."""
    listed: dict[int, list[tuple[int, float, bool]]] = defaultdict(list)
    ivs: dict[int, float] = {}
    for i, option in enumerate(options):
        if option.iv is not None:
            listed[option.expiry_ms].append((i, option.strike, option.is_call))
            ivs[i] = option.iv
    return ladder_pillars(((expiry, StrikeLadder(listed[expiry])) for expiry in sorted(listed)), ivs, forwards, now_ms)


def tenors(by_expiry: Sequence[tuple[float, Pillars]], days: Iterable[int] = TENOR_DAYS) -> dict[int, Tenor]:
    """Constant-maturity ATM, RR25 and BF25 for each of ``days`` the complete expiries bracket.

    The three pillars share their expiries, so each constant maturity finds its bracketing pair once.
    """
    complete = [
        (t_years, p.atm, p.call25, p.put25)
        for t_years, p in by_expiry
        if p.atm is not None and p.call25 is not None and p.put25 is not None
    ]
    result: dict[int, Tenor] = {}
    if not complete:
        return result
    times = [row[0] for row in complete]
    for day in days:
        t_years = day / 365.0
        found = _bracket(times, t_years)
        if found is None:
            continue
        (t1, a1, c1, p1), (t2, a2, c2, p2) = complete[found[0]], complete[found[1]]
        if found[0] == found[1]:
            a, c, p25 = a1, c1, p1
        else:
            a = _total_variance_between(t1, a1, t2, a2, t_years)
            c = _total_variance_between(t1, c1, t2, c2, t_years)
            p25 = _total_variance_between(t1, p1, t2, p2, t_years)
        result[day] = Tenor(atm_iv=a, rr25=c - p25, bf25=0.5 * (c + p25) - a)
    return result


def open_interest(
    options: Iterable[ChainOption], top_n: int = PUT_OI_TOP_N
) -> tuple[float | None, tuple[tuple[float, float], ...]]:
    """Put/call OI ratio over all expiries (None without call OI) and the ``top_n`` largest put OI by strike."""
    return listed_open_interest(((option.is_call, option.strike, option.oi) for option in options), top_n)


def _rank(row: tuple[float, float]) -> tuple[float, float]:
    """Sort key of (strike, OI): largest OI first, the lower strike first among equals."""
    return -row[1], row[0]


def listed_open_interest(
    listed: Iterable[tuple[bool, float, float]], top_n: int = PUT_OI_TOP_N
) -> tuple[float | None, tuple[tuple[float, float], ...]]:
    """:func:`open_interest` of (is_call, strike, OI) rows."""
    calls = puts = 0.0
    by_strike: dict[float, float] = {}
    for is_call, strike, oi in listed:
        if is_call:
            calls += oi
        else:
            puts += oi
            by_strike[strike] = by_strike.get(strike, 0.0) + oi
    ranked = []
    for row in by_strike.items():  # a loop: a comprehension is a call more, and most chains are short
        if row[1] > 0.0:
            ranked.append(row)
    ranked.sort(key=_rank)
    return (puts / calls if calls > 0.0 else None), tuple(ranked[:top_n])


def summarize(options: Sequence[ChainOption], forwards: Mapping[int, float], now_ms: int) -> ChainSummary:
    """The chain's tenors (7/30/90 d), put/call OI ratio and top put OI by strike at ``now_ms``."""
    ratio, top = open_interest(options)
    return ChainSummary(tenors(expiry_pillars(options, forwards, now_ms)), ratio, top)
