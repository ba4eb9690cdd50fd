"""One expiry's smile: Black-76 forward deltas, IV at 25Δ call and put, ATM IV at the forward.

Conventions (docs/options.md): deltas are undiscounted Black-76 forward deltas,
not premium-adjusted; a put's delta is the call's minus one, so the 25Δ put is
the strike whose call delta is 0.75. Each strike's IV is the out-of-the-money
option's (the put below the forward, the call at or above it). The 25Δ IVs are
interpolated linearly in call delta between the two strikes that bracket it;
ATM is interpolated linearly in log-strike between the strikes around the
forward. Nothing is extrapolated: a point outside the listed strikes is None.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

YEAR_MS: Final = 365.0 * 86_400_000.0
CALL_25: Final = 0.25
PUT_25_AS_CALL: Final = 0.75  # put delta −0.25 = call delta 0.75 − 1
_SQRT2: Final = math.sqrt(2.0)


@dataclass(frozen=True, slots=True)
class Quote:
    """One listed option of an expiry: strike, call or put, mark IV as a fraction (0.55 = 55 vol points)."""

    strike: float
    is_call: bool
    iv: float


@dataclass(frozen=True, slots=True)
class Pillars:
    """The three smile points of one expiry (fractions); None where the strikes do not reach."""

    atm: float | None
    call25: float | None
    put25: float | None


def norm_cdf(x: float) -> float:
    """The standard normal distribution function."""
    return 0.5 * math.erfc(-x / _SQRT2)


def call_delta(forward: float, strike: float, iv: float, t_years: float) -> float:
    """Undiscounted Black-76 call delta N(d1); the put delta is this minus one."""
    sd = iv * math.sqrt(t_years)
    if sd <= 0.0:
        return 1.0 if forward > strike else 0.0
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    return norm_cdf(d1)


def smile(quotes: Iterable[Quote], forward: float) -> list[tuple[float, float]]:
    """(strike, IV) by ascending strike, each from the out-of-the-money option (the other when it is alone)."""
    by_strike: dict[float, tuple[bool, float]] = {}
    for quote in quotes:
        if quote.strike <= 0.0 or not quote.iv > 0.0 or not math.isfinite(quote.iv):
            continue
        otm = quote.is_call == (quote.strike >= forward)
        held = by_strike.get(quote.strike)
        if held is None or (otm and not held[0]):
            by_strike[quote.strike] = (otm, quote.iv)
    return [(strike, by_strike[strike][1]) for strike in sorted(by_strike)]


def _at_delta(points: Sequence[tuple[float, float]], target: float) -> float | None:
    """IV at call delta ``target``, linear in delta between the first bracketing pair of strikes."""
    for (d_lo, iv_lo), (d_hi, iv_hi) in itertools.pairwise(points):
        if min(d_lo, d_hi) <= target <= max(d_lo, d_hi):
            if d_lo == d_hi:
                return 0.5 * (iv_lo + iv_hi)
            return iv_lo + (iv_hi - iv_lo) * (target - d_lo) / (d_hi - d_lo)
    return None


def _at_forward(points: Sequence[tuple[float, float]], forward: float) -> float | None:
    """IV at the forward, linear in log-strike between the strikes around it."""
    log_f = math.log(forward)
    for (k_lo, iv_lo), (k_hi, iv_hi) in itertools.pairwise(points):
        if k_lo <= forward <= k_hi:
            x_lo, x_hi = math.log(k_lo), math.log(k_hi)
            return iv_lo + (iv_hi - iv_lo) * (log_f - x_lo) / (x_hi - x_lo)
    for strike, iv in points:
        if strike == forward:
            return iv
    return None


def pillars(quotes: Iterable[Quote], forward: float, t_years: float) -> Pillars:
    """ATM, 25Δ call and 25Δ put IV of one expiry with forward ``forward`` and ``t_years`` to expiry."""
    if forward <= 0.0 or t_years <= 0.0:
        return Pillars(None, None, None)
    points = smile(quotes, forward)
    by_delta = [(call_delta(forward, strike, iv, t_years), iv) for strike, iv in points]
    return Pillars(
        atm=_at_forward(points, forward),
        call25=_at_delta(by_delta, CALL_25),
        put25=_at_delta(by_delta, PUT_25_AS_CALL),
    )
