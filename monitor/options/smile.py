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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

YEAR_MS: Final = 365.0 * 86_400_000.0
CALL_25: Final = 0.25
PUT_25_AS_CALL: Final = 0.75  # put delta −0.25 = call delta 0.75 − 1
_SQRT2: Final = math.sqrt(2.0)
K = TypeVar("K")


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


class StrikeLadder(Generic[K]):
    """One expiry's listed options grouped by strike (ascending), each group in listing order.

    Built once per listing; :meth:`smile` reads it at every snapshot, so the
    grouping and the sort are not redone while only IVs and the forward move.
    """

    __slots__ = ("rungs",)

    def __init__(self, listed: Iterable[tuple[K, float, bool]]) -> None:
        """``listed``: (key, strike, is_call) of each option, in listing order; non-positive strikes are left out."""
        grouped: dict[float, tuple[list[K], list[K]]] = {}
        for key, strike, is_call in listed:
            if not strike <= 0.0:
                calls, puts = grouped.setdefault(strike, ([], []))
                (calls if is_call else puts).append(key)
        # Per strike, its keys in the order they are tried: puts first (below the forward), calls first (at or above).
        self.rungs: Final = tuple(
            (strike, (*grouped[strike][1], *grouped[strike][0]), (*grouped[strike][0], *grouped[strike][1]))
            for strike in sorted(grouped)
        )

    def smile(self, ivs: Mapping[K, float], forward: float) -> list[tuple[float, float]]:
        """(strike, IV) by ascending strike, each from the out-of-the-money option (the other when it is alone).

        ``ivs`` holds each option's IV by key; a key without one, or with an IV that is not positive and
        finite, is not quoted. Among several options of one strike and kind, the first listed counts.
        """
        points: list[tuple[float, float]] = []
        get, isfinite = ivs.get, math.isfinite
        for strike, puts_first, calls_first in self.rungs:
            for key in calls_first if strike >= forward else puts_first:
                iv = get(key)
                if iv is not None and iv > 0.0 and isfinite(iv):
                    points.append((strike, iv))
                    break
        return points


def smile(quotes: Iterable[Quote], forward: float) -> list[tuple[float, float]]:
    """(strike, IV) by ascending strike, each from the out-of-the-money option (the other when it is alone)."""
    listed = list(quotes)
    ladder = StrikeLadder((i, quote.strike, quote.is_call) for i, quote in enumerate(listed))
    return ladder.smile({i: quote.iv for i, quote in enumerate(listed)}, forward)


def _between(d_lo: float, iv_lo: float, d_hi: float, iv_hi: float, target: float) -> float:
    """IV at call delta ``target``, which lies between ``d_lo`` and ``d_hi`` (linear in delta)."""
    if d_lo == d_hi:
        return 0.5 * (iv_lo + iv_hi)
    return iv_lo + (iv_hi - iv_lo) * (target - d_lo) / (d_hi - d_lo)


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


def smile_pillars(points: Sequence[tuple[float, float]], forward: float, t_years: float) -> Pillars:
    """ATM, 25Δ call and 25Δ put IV of a smile ((strike, IV) by ascending strike).

    Each 25Δ IV comes from the first pair of neighbouring strikes whose call deltas bracket it;
    deltas are computed only up to the strike where both are found.
    """
    if forward <= 0.0 or t_years <= 0.0:
        return Pillars(None, None, None)
    call25: float | None = None
    put25: float | None = None
    d_lo = iv_lo = math.nan  # the previous strike's delta and IV: none before the first (NaN brackets nothing)
    for strike, iv in points:
        delta = call_delta(forward, strike, iv, t_years)
        # The bracket tests are in line (per strike); only a bracketing pair is interpolated.
        if call25 is None and (d_lo <= CALL_25 <= delta or delta <= CALL_25 <= d_lo):
            call25 = _between(d_lo, iv_lo, delta, iv, CALL_25)
        if put25 is None and (d_lo <= PUT_25_AS_CALL <= delta or delta <= PUT_25_AS_CALL <= d_lo):
            put25 = _between(d_lo, iv_lo, delta, iv, PUT_25_AS_CALL)
        if call25 is not None and put25 is not None:
            break
        d_lo, iv_lo = delta, iv
    return Pillars(atm=_at_forward(points, forward), call25=call25, put25=put25)


def pillars(quotes: Iterable[Quote], forward: float, t_years: float) -> Pillars:
    """ATM, 25Δ call and 25Δ put IV of one expiry with forward ``forward`` and ``t_years`` to expiry."""
    if forward <= 0.0 or t_years <= 0.0:
        return Pillars(None, None, None)
    return smile_pillars(smile(quotes, forward), forward, t_years)
