"""The options market of the synthetic scenarios: a smile driven by the price path (pure, deterministic).

Stress is the drawdown from the path's running high, saturating:
``g = S·(1 − exp(−dd/S))`` with ``dd`` in percent and ``S`` = 8. Every figure
below is a straight line in ``g`` (vol points):

* 25Δ risk reversal: 7 d −2 − 1.6 g, 30 d −1.5 − 1.0 g, 90 d −1 − 0.6 g. A calm
  day (dd ≤ 1.5 %) stays above −4.5; the 5–6 Feb 2026 slide (dd 12–18 %) reads
  −12 to −13.5 at 7 days, the reported −13.
* ATM IV: 7 d 42 + 3.2 g, 30 d 46 + 1.3 g, 90 d 48 + 0.6 g: upward sloping when
  calm, the front above the 30-day from dd ≈ 4 %.
* 25Δ butterfly: 7 d 1.5 + 0.3 g, 30 d 1.2 + 0.2 g, 90 d 1.0.
* DVOL: the 30-day ATM plus 2.
* Put open interest at the 50k–60k strikes grows with the deepest stress so far
  (ratchet: hedges are not unwound on the rebound), mostly in the first
  monthly expiry at least two weeks out; everything else has a bell-shaped
  open interest around the starting price, puts three quarters of calls.

Between the 7/30/90-day pillars a figure is linear in days (flat beyond), and
one expiry's smile is ``σ(Δ) = atm + b(Δ − ½) + c(Δ − ½)²`` in call delta with
``b = −2·RR`` and ``c = 16·BF``; a strike's IV solves ``Δ = N(d1(σ(Δ)))``.
"""

from __future__ import annotations

import calendar
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from monitor.options.smile import YEAR_MS, call_delta, norm_cdf

DAY_MS: Final = 86_400_000
SATURATION_PCT: Final = 8.0
TENORS: Final = (7.0, 30.0, 90.0)
_RR: Final = ((-2.0, -1.6), (-1.5, -1.0), (-1.0, -0.6))
_ATM: Final = ((42.0, 3.2), (46.0, 1.3), (48.0, 0.6))
_BF: Final = ((1.5, 0.3), (1.2, 0.2), (1.0, 0.0))
# Forward basis (annualized) of the dated futures the options are priced on.
BASIS: Final = 0.05
HEDGE_STRIKES: Final = (50_000.0, 60_000.0)
HEDGE_PEAK_OI: Final = 9_000.0  # coins at a 50–60k put of the month-end expiry at full stress
_MONTHS: Final = tuple(m.upper() for m in calendar.month_abbr)


def stress(drawdown_pct: float) -> float:
    """The saturating stress ``g`` of a drawdown in percent."""
    return SATURATION_PCT * (1.0 - math.exp(-max(drawdown_pct, 0.0) / SATURATION_PCT))


def drawdowns(prices: Sequence[float]) -> list[float]:
    """Percent below the running high at every step."""
    out, high = [], 0.0
    for price in prices:
        high = max(high, price)
        out.append(100.0 * (1.0 - price / high))
    return out


def _pillar(table: tuple[tuple[float, float], ...], g: float, days: float) -> float:
    values = [base + slope * g for base, slope in table]
    if days <= TENORS[0]:
        return values[0]
    for (d1, v1), (d2, v2) in itertools.pairwise(zip(TENORS, values, strict=True)):
        if days <= d2:
            return v1 + (v2 - v1) * (days - d1) / (d2 - d1)
    return values[-1]


@dataclass(frozen=True, slots=True)
class Smile:
    """One expiry's smile in call delta (fractions)."""

    atm: float
    rr: float
    bf: float

    def at_delta(self, delta: float) -> float:
        """IV at call delta ``delta``."""
        x = delta - 0.5
        return self.atm - 2.0 * self.rr * x + 16.0 * self.bf * x * x

    def at_strike(self, forward: float, strike: float, t_years: float) -> float:
        """IV of ``strike``: a few fixed-point steps of Δ = N(d1(σ(Δ))) from the ATM guess."""
        delta = call_delta(forward, strike, self.atm, t_years)
        for _ in range(4):
            delta = call_delta(forward, strike, self.at_delta(delta), t_years)
        return self.at_delta(delta)


def smile(g: float, days: float, noise: float = 0.0) -> Smile:
    """The smile of an expiry ``days`` out at stress ``g`` (``noise`` in vol points on the level)."""
    return Smile(
        atm=(_pillar(_ATM, g, days) + noise) / 100.0,
        rr=_pillar(_RR, g, days) / 100.0,
        bf=_pillar(_BF, g, days) / 100.0,
    )


def dvol(g: float, noise: float = 0.0) -> float:
    """The volatility index (vol points): the 30-day ATM plus 2."""
    return _pillar(_ATM, g, 30.0) + 2.0 + noise


def black76(forward: float, strike: float, iv: float, t_years: float, is_call: bool) -> float:
    """Undiscounted Black-76 price in USD."""
    sd = iv * math.sqrt(t_years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    call = forward * norm_cdf(d1) - strike * norm_cdf(d1 - sd)
    return call if is_call else call - forward + strike


def forward(index: float, t_years: float) -> float:
    """The expiry's forward from the index."""
    return index * math.exp(BASIS * t_years)


def _at_eight(day: datetime) -> int:
    return int(day.replace(hour=8, minute=0, second=0, microsecond=0).timestamp() * 1000)


def _last_friday(year: int, month: int) -> datetime:
    last = calendar.monthrange(year, month)[1]
    day = datetime(year, month, last, tzinfo=UTC)
    return day - timedelta(days=(day.weekday() - 4) % 7)


def listed_expiries(start_ms: int) -> list[int]:
    """Expiries listed at ``start_ms`` (08:00 UTC): the next day, four Fridays, five month-ends."""
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    days = [start + timedelta(days=1)]
    friday = start + timedelta(days=(4 - start.weekday()) % 7 or 7)
    days += [friday + timedelta(weeks=n) for n in range(4)]
    year, month = start.year, start.month
    for _ in range(5):
        days.append(_last_friday(year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted({t for t in map(_at_eight, days) if t > start_ms + 3_600_000})


def month_end(expiries: Sequence[int], start_ms: int) -> int:
    """The first month-end expiry at least 14 days after ``start_ms`` (where hedges concentrate)."""
    for expiry in expiries:
        day = datetime.fromtimestamp(expiry / 1000, tz=UTC)
        if expiry - start_ms >= 14 * DAY_MS and day == _last_friday(day.year, day.month).replace(hour=8):
            return expiry
    return expiries[-1]


def expiry_code(expiry_ms: int) -> str:
    """Deribit's date code: ``27FEB26``."""
    day = datetime.fromtimestamp(expiry_ms / 1000, tz=UTC)
    return f"{day.day}{_MONTHS[day.month]}{day.year % 100:02d}"


def strikes(start_price: float, days: float) -> list[float]:
    """Listed strikes: every 2000 from 65 % to 130 % of the start price up to 30 days, every 5000 wider beyond."""
    step, low, high = (2000.0, 0.65, 1.3) if days <= 30.0 else (5000.0, 0.5, 1.8)
    first = math.ceil(start_price * low / step) * step
    return [first + step * n for n in range(int((start_price * high - first) // step) + 1)]


def open_interest(strike: float, is_call: bool, start_price: float, hedge: float, month_end: bool) -> float:
    """Coins of open interest: a bell around the start price, plus the 50–60k put hedges (``hedge`` in 0..1)."""
    moneyness = math.log(strike / start_price)
    base = 900.0 * math.exp(-0.5 * (moneyness / 0.15) ** 2) + 40.0
    if is_call:
        return base
    base *= 0.75
    low, high = HEDGE_STRIKES
    if low <= strike <= high:
        base += hedge * HEDGE_PEAK_OI * (1.0 if month_end else 0.08) * (1.0 - 0.4 * (high - strike) / (high - low))
    return base


def t_years(expiry_ms: int, now_ms: int) -> float:
    """Years (of 365 days) from ``now_ms`` to the expiry."""
    return (expiry_ms - now_ms) / YEAR_MS
