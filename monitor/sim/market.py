"""The market model behind the synthetic scenarios (pure, deterministic for a seed).

One asset traded on several venues, simulated on a coarse grid (``step_s``
seconds of output time; the scenario clock may be compressed):

* **Price**: a log-price anchored to a piecewise log-linear path through the
  scenario's knots, plus a mean-reverting deviation with diffusion, jumps and
  the price impact of forced selling (net liquidated notional pushes it).
* **Liquidations**: a marked self-exciting (Hawkes) process per side. Each
  step's intensity is a background rate plus a kernel that decays at
  ``decay_per_h`` and is excited by the liquidations themselves and by price
  moves against that side (a fall liquidates longs, a rise shorts) in
  proportion to the phase's crowding. Sizes are Pareto (heavy-tailed).
* **Open interest** (base units): falls with every liquidation; the rest of
  each phase's change (positions opened or closed voluntarily) is spread over
  the phase, 30 % evenly and 70 % where the liquidations are.
* **Funding**: the perpetual premium follows the phase's bias plus the last
  hour's momentum (an OU process), is averaged over the funding period and
  run through the usual clamp ``F = P + clamp(0.01 % − P, ±0.05 %)``.

Everything here is in model time; :class:`MarketPath` holds output-time
epoch milliseconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

INTEREST_8H = 0.0001
CLAMP_8H = 0.0005


@dataclass(frozen=True, slots=True)
class Phase:
    """One leg of a scenario, ending at ``until_h`` hours (model time) from the start.

    ``price`` is the anchor price reached at ``until_h``; ``oi_usd`` the total
    open interest (all venues, USD) at that moment, or None to let open
    interest drift only with liquidations. Rates are per model hour;
    ``vol`` is the log volatility per √hour; ``premium`` the perp premium bias
    (fraction); ``crowd_long``/``crowd_short`` the expected number of
    liquidations set off per 1 % move against that side.
    """

    until_h: float
    price: float
    vol: float = 0.004
    premium: float = 0.00012
    oi_usd: float | None = None
    liq_per_h: float = 60.0
    long_share: float = 0.5
    crowd_long: float = 5.0
    crowd_short: float = 5.0
    jumps_per_h: float = 0.0
    jump_size: float = 0.004
    jump_down: float = 0.5


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Dynamics shared by every phase of a scenario."""

    start_price: float
    start_oi_usd: float
    # Mean reversion of the price deviation towards the anchor path (per model hour).
    reversion_per_h: float = 1.5
    # Hawkes kernel decay (per model hour) and self-excitation (expected children per liquidation).
    decay_per_h: float = 40.0
    branching: float = 0.45
    # Liquidation sizes: Pareto with this minimum (USD) and tail index; capped.
    size_min_usd: float = 8_000.0
    size_alpha: float = 1.45
    size_cap_usd: float = 3_000_000.0
    # Log-price impact per USD of net liquidated notional (longs push the price down).
    impact_per_usd: float = 4e-12
    # Funding: premium mean reversion (per hour), premium noise per √hour, momentum coupling.
    premium_reversion_per_h: float = 2.0
    premium_vol: float = 0.00008
    momentum: float = 0.003
    # Averaging time of the premium into the funding estimate (model hours).
    funding_avg_h: float = 1.0


@dataclass(slots=True)
class Liq:
    """One liquidation of the model (before venue sampling)."""

    ts_ms: int
    side: str
    usd: float
    price: float
    venue: str = ""


@dataclass(slots=True)
class MarketPath:
    """The simulated market on the output-time grid."""

    start_ms: int
    step_ms: int
    price: list[float] = field(default_factory=list)
    premium: list[float] = field(default_factory=list)
    funding_8h: list[float] = field(default_factory=list)
    oi_base: list[float] = field(default_factory=list)
    liqs: list[Liq] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.price)

    def t_ms(self, k: int) -> int:
        """Epoch milliseconds of step ``k``."""
        return self.start_ms + k * self.step_ms

    def index_at(self, ts_ms: int) -> int:
        """The step in force at ``ts_ms`` (clamped to the grid)."""
        return min(len(self.price) - 1, max(0, (ts_ms - self.start_ms) // self.step_ms))


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (exact below 30, normal approximation above)."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def funding_from_premium(premium: float) -> float:
    """The 8-hour funding rate for an averaged premium (interest 0.01 %, clamp ±0.05 %)."""
    return premium + min(CLAMP_8H, max(-CLAMP_8H, INTEREST_8H - premium))


def _phase_at(phases: tuple[Phase, ...], t_h: float) -> int:
    for i, phase in enumerate(phases):
        if t_h < phase.until_h:
            return i
    return len(phases) - 1


def _anchor(params: ModelParams, phases: tuple[Phase, ...], i: int, t_h: float) -> float:
    start_h = phases[i - 1].until_h if i else 0.0
    p0 = math.log(phases[i - 1].price if i else params.start_price)
    p1 = math.log(phases[i].price)
    span = max(1e-9, phases[i].until_h - start_h)
    return p0 + (p1 - p0) * min(1.0, max(0.0, (t_h - start_h) / span))


def simulate(
    params: ModelParams,
    phases: tuple[Phase, ...],
    *,
    seed: int,
    start_ms: int,
    hours: float,
    step_s: float = 5.0,
) -> MarketPath:
    """Simulate ``phases`` (nominal length ``phases[-1].until_h``) compressed into ``hours`` of output time."""
    nominal_h = phases[-1].until_h
    squeeze = nominal_h / hours
    rng = random.Random(seed)
    steps = max(2, round(hours * 3600 / step_s))
    dt_h = step_s / 3600 * squeeze  # model hours per step
    step_ms = round(step_s * 1000)
    path = MarketPath(start_ms=start_ms, step_ms=step_ms)
    lookback = max(1, round(1.0 / dt_h))
    decay = math.exp(-params.decay_per_h * dt_h)
    dev = 0.0
    premium = phases[0].premium
    avg_premium = premium
    avg_w = min(1.0, dt_h / params.funding_avg_h)
    kernel = {"long": 0.0, "short": 0.0}
    births = {"long": 0, "short": 0}
    net_usd = 0.0
    logs: list[float] = []
    for k in range(steps):
        t_h = k * dt_h
        i = _phase_at(phases, t_h)
        ph = phases[i]
        # Price: anchored log path + mean-reverting deviation (diffusion, jumps, liquidation impact).
        dev += -params.reversion_per_h * dev * dt_h + ph.vol * math.sqrt(dt_h) * rng.gauss(0.0, 1.0)
        if ph.jumps_per_h > 0 and rng.random() < ph.jumps_per_h * dt_h:
            size = rng.expovariate(1.0 / ph.jump_size)
            dev += -size if rng.random() < ph.jump_down else size
        dev -= params.impact_per_usd * net_usd
        log_p = _anchor(params, phases, i, t_h) + dev
        move = log_p - logs[-1] if logs else 0.0
        logs.append(log_p)
        price = math.exp(log_p)
        path.price.append(price)
        # Liquidations: background + self-excitation + moves against each side.
        net_usd = 0.0
        t0 = path.t_ms(k)
        for side, against, crowd, share in (
            ("long", max(0.0, -move), ph.crowd_long, ph.long_share),
            ("short", max(0.0, move), ph.crowd_short, 1.0 - ph.long_share),
        ):
            kernel[side] = kernel[side] * decay + births[side] * params.branching * params.decay_per_h
            kernel[side] += crowd * against * 100 * params.decay_per_h
            lam = (ph.liq_per_h * share + kernel[side]) * dt_h
            n = poisson(rng, lam)
            births[side] = n
            for _ in range(n):
                usd = min(params.size_cap_usd, params.size_min_usd * rng.paretovariate(params.size_alpha))
                slip = rng.random() * 0.0015
                liq_price = price * (1 - slip if side == "long" else 1 + slip)
                ts = t0 + int(rng.random() * step_ms)
                path.liqs.append(Liq(ts_ms=ts, side=side, usd=usd, price=liq_price))
                net_usd += usd if side == "long" else -usd
        # Premium and funding.
        back = logs[-1 - lookback] if len(logs) > lookback else logs[0]
        target = ph.premium + params.momentum * (log_p - back)
        premium += -params.premium_reversion_per_h * (premium - target) * dt_h
        premium += params.premium_vol * math.sqrt(dt_h) * rng.gauss(0.0, 1.0)
        avg_premium += avg_w * (premium - avg_premium)
        path.premium.append(premium)
        path.funding_8h.append(funding_from_premium(avg_premium))
    path.liqs.sort(key=lambda liq: liq.ts_ms)
    return path


def build_open_interest(
    path: MarketPath, params: ModelParams, phases: tuple[Phase, ...], hours: float, seed: int
) -> None:
    """Fill ``path.oi_base`` once liquidation sizes are final (see the module docstring)."""
    rng = random.Random(seed * 7919 + 17)
    n = len(path)
    squeeze = phases[-1].until_h / hours
    liq_base = [0.0] * n
    for liq in path.liqs:
        liq_base[path.index_at(liq.ts_ms)] += liq.usd / liq.price
    bounds: list[tuple[int, int, Phase]] = []
    start = 0
    for ph in phases:
        end = min(n, round(ph.until_h / squeeze * 3600 * 1000 / path.step_ms))
        if ph is phases[-1]:
            end = n
        bounds.append((start, end, ph))
        start = end
    oi = params.start_oi_usd / params.start_price
    out: list[float] = []
    noise = 0.0
    for lo, hi, ph in bounds:
        if hi <= lo:
            continue
        liq_total = sum(liq_base[lo:hi])
        target = ph.oi_usd / ph.price if ph.oi_usd is not None else oi - liq_total
        voluntary = target - oi + liq_total
        weights = [
            0.3 / (hi - lo) + (0.7 * liq_base[j] / liq_total if liq_total > 0 else 0.7 / (hi - lo))
            for j in range(lo, hi)
        ]
        for j, w in zip(range(lo, hi), weights, strict=True):
            oi += voluntary * w - liq_base[j]
            noise += -0.05 * noise + rng.gauss(0.0, 0.00004)
            out.append(max(1.0, oi * (1.0 + noise)))
    path.oi_base = out
