"""The market model: Poisson draws, the funding clamp, open-interest accounting, determinism."""

from __future__ import annotations

import random

import pytest

from monitor.sim.market import (
    Liq,
    MarketPath,
    ModelParams,
    Phase,
    build_open_interest,
    funding_from_premium,
    poisson,
    simulate,
)


@pytest.mark.parametrize("lam", [0.5, 4.0, 80.0])
def test_poisson_mean_matches_rate(lam: float) -> None:
    rng = random.Random(7)
    draws = [poisson(rng, lam) for _ in range(4000)]
    assert abs(sum(draws) / len(draws) - lam) < 0.05 * lam + 0.05
    assert min(draws) >= 0


@pytest.mark.parametrize(
    ("premium", "funding"),
    [
        (0.0003, 0.0001),  # inside the clamp: the 0.01 % interest rate
        (-0.0004, 0.0001),
        (0.0009, 0.0004),  # above: premium minus 0.05 %
        (-0.0005, 0.0),  # the zero crossing
        (-0.0008, -0.0003),
    ],
)
def test_funding_follows_the_premium_through_the_clamp(premium: float, funding: float) -> None:
    assert funding_from_premium(premium) == pytest.approx(funding, abs=1e-12)


PHASES = (
    Phase(2, 100_000, vol=0.003, liq_per_h=200, crowd_long=30),
    Phase(4, 90_000, vol=0.003, liq_per_h=200, long_share=0.9, crowd_long=30),
)
PARAMS = ModelParams(start_price=100_000, start_oi_usd=10e9)


def test_simulation_is_deterministic_for_a_seed() -> None:
    one = simulate(PARAMS, PHASES, seed=3, start_ms=0, hours=4)
    two = simulate(PARAMS, PHASES, seed=3, start_ms=0, hours=4)
    other = simulate(PARAMS, PHASES, seed=4, start_ms=0, hours=4)
    assert one.price == two.price
    assert [(q.ts_ms, q.usd) for q in one.liqs] == [(q.ts_ms, q.usd) for q in two.liqs]
    assert one.price != other.price


def test_price_follows_the_anchor_and_a_fall_liquidates_longs() -> None:
    path = simulate(PARAMS, PHASES, seed=5, start_ms=0, hours=4)
    assert path.price[0] == pytest.approx(100_000, rel=0.02)
    assert path.price[-1] == pytest.approx(90_000, rel=0.03)
    late = [q for q in path.liqs if q.ts_ms >= 2 * 3_600_000]
    longs = sum(q.usd for q in late if q.side == "long")
    shorts = sum(q.usd for q in late if q.side == "short")
    assert longs > 3 * shorts
    assert all(q.price > 0 and q.usd > 0 for q in path.liqs)


def test_compression_keeps_the_sequence_in_fewer_hours() -> None:
    path = simulate(PARAMS, PHASES, seed=5, start_ms=0, hours=1)
    assert len(path) == 720  # 1 h of 5 s steps
    assert path.price[-1] == pytest.approx(90_000, rel=0.03)
    assert max(q.ts_ms for q in path.liqs) < 3_600_000


def test_open_interest_falls_by_what_is_liquidated_and_meets_phase_targets() -> None:
    path = MarketPath(start_ms=0, step_ms=5_000, price=[100.0] * 10, premium=[0.0] * 10, funding_8h=[0.0] * 10)
    path.liqs = [Liq(ts_ms=12_000, side="long", usd=5_000.0, price=100.0)]  # 50 base units at step 2
    phases = (Phase(10 * 5 / 3600, 100.0),)  # no target: only liquidations move it
    build_open_interest(path, ModelParams(start_price=100.0, start_oi_usd=100_000.0), phases, 10 * 5 / 3600, seed=1)
    assert path.oi_base[0] == pytest.approx(1000, rel=0.001)
    assert path.oi_base[-1] == pytest.approx(950, rel=0.001)
    assert path.oi_base[2] < path.oi_base[1]
    targeted = (Phase(10 * 5 / 3600, 100.0, oi_usd=80_000.0),)
    build_open_interest(path, ModelParams(start_price=100.0, start_oi_usd=100_000.0), targeted, 10 * 5 / 3600, seed=1)
    assert path.oi_base[-1] == pytest.approx(800, rel=0.001)
