"""A whole option chain → constant-maturity tenors, put/call OI ratio and the largest put OI by strike.

Each expiry's ATM, 25Δ call and 25Δ put IV come from :func:`monitor.options.smile.pillars`.
A constant maturity of ``d`` days is interpolated linearly in total variance
(IV² × T) between the two listed expiries that bracket it, pillar by pillar,
over the expiries where all three pillars exist; a tenor shorter than the
first such expiry or longer than the last is omitted, never extrapolated.
RR25 = IV(25Δ call) − IV(25Δ put); BF25 = their mean − ATM.
"""

from __future__ import annotations

import itertools
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


def interpolate_total_variance(points: Sequence[tuple[float, float]], t_years: float) -> float | None:
    """IV at ``t_years`` from (T, IV) points sorted by T, linear in IV²×T between the bracketing pair."""
    for t, iv in points:
        if t == t_years:
            return iv
    for (t1, iv1), (t2, iv2) in itertools.pairwise(points):
        if t1 < t_years < t2:
            w1, w2 = iv1 * iv1 * t1, iv2 * iv2 * t2
            w = w1 + (w2 - w1) * (t_years - t1) / (t2 - t1)
            return math.sqrt(max(w, 0.0) / t_years)
    return None


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
    """Constant-maturity ATM, RR25 and BF25 for each of ``days`` the complete expiries bracket."""
    atm: list[tuple[float, float]] = []
    call: list[tuple[float, float]] = []
    put: list[tuple[float, float]] = []
    for t_years, p in by_expiry:
        if p.atm is not None and p.call25 is not None and p.put25 is not None:
            atm.append((t_years, p.atm))
            call.append((t_years, p.call25))
            put.append((t_years, p.put25))
    result: dict[int, Tenor] = {}
    for day in days:
        t_years = day / 365.0
        a = interpolate_total_variance(atm, t_years)
        c = interpolate_total_variance(call, t_years)
        p25 = interpolate_total_variance(put, t_years)
        if a is not None and c is not None and p25 is not None:
            result[day] = Tenor(atm_iv=a, rr25=c - p25, bf25=0.5 * (c + p25) - a)
    return result


def open_interest(
    options: Iterable[ChainOption], top_n: int = PUT_OI_TOP_N
) -> tuple[float | None, tuple[tuple[float, float], ...]]:
    """Put/call OI ratio over all expiries (None without call OI) and the ``top_n`` largest put OI by strike."""
    return listed_open_interest(((option.is_call, option.strike, option.oi) for option in options), top_n)


def listed_open_interest(
    listed: Iterable[tuple[bool, float, float]], top_n: int = PUT_OI_TOP_N
) -> tuple[float | None, tuple[tuple[float, float], ...]]:
    """:func:`open_interest` of (is_call, strike, OI) rows."""
    calls = puts = 0.0
    by_strike: dict[float, float] = defaultdict(float)
    for is_call, strike, oi in listed:
        if is_call:
            calls += oi
        else:
            puts += oi
            by_strike[strike] += oi
    ranked = sorted(((k, oi) for k, oi in by_strike.items() if oi > 0.0), key=lambda row: (-row[1], row[0]))
    return (puts / calls if calls > 0.0 else None), tuple(ranked[:top_n])


def summarize(options: Sequence[ChainOption], forwards: Mapping[int, float], now_ms: int) -> ChainSummary:
    """The chain's tenors (7/30/90 d), put/call OI ratio and top put OI by strike at ``now_ms``."""
    ratio, top = open_interest(options)
    return ChainSummary(tenors(expiry_pillars(options, forwards, now_ms)), ratio, top)
