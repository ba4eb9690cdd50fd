"""The scenarios' options market: listed expiries, the smile, stress, put hedges (the generated frames:
tests/integration/test_scenarios_options.py)."""

from __future__ import annotations

import pytest

from monitor.options.smile import call_delta
from monitor.sim.catalog import FEB_5_2026_MS
from monitor.sim.options import (
    drawdowns,
    expiry_code,
    listed_expiries,
    month_end,
    open_interest,
    smile,
    stress,
)


def test_expiries_listed_on_5_february_2026() -> None:
    expiries = listed_expiries(FEB_5_2026_MS)
    codes = [expiry_code(e) for e in expiries]
    assert codes == ["6FEB26", "13FEB26", "20FEB26", "27FEB26", "27MAR26", "24APR26", "29MAY26", "26JUN26"]
    assert expiry_code(month_end(expiries, FEB_5_2026_MS)) == "27FEB26"
    assert all(e % 86_400_000 == 8 * 3_600_000 for e in expiries)  # 08:00 UTC


def test_stress_saturates_and_drawdown_follows_the_running_high() -> None:
    assert drawdowns([100.0, 90.0, 95.0, 110.0, 99.0]) == pytest.approx([0.0, 10.0, 5.0, 0.0, 10.0])
    assert stress(0.0) == 0.0
    assert stress(1.0) == pytest.approx(1.0, abs=0.07)
    assert 7.0 < stress(18.0) < 8.0


def test_a_strike_iv_sits_on_the_smile_at_its_own_delta() -> None:
    shape = smile(6.0, 22.0)
    for strike in (50_000.0, 60_000.0, 63_000.0, 70_000.0, 80_000.0):
        iv = shape.at_strike(63_000.0, strike, 22 / 365)
        assert iv == pytest.approx(shape.at_delta(call_delta(63_000.0, strike, iv, 22 / 365)), abs=1e-4)
    # 22 days lies between the 7-day (−2 − 1.6 g) and 30-day (−1.5 − 1.0 g) pillars, linear in days.
    rr7, rr30 = -2.0 - 1.6 * 6.0, -1.5 - 1.0 * 6.0
    assert shape.rr * 100 == pytest.approx(rr7 + (rr30 - rr7) * (22 - 7) / (30 - 7), abs=1e-9)


def test_put_hedges_build_at_50k_to_60k_of_the_month_end() -> None:
    calm = open_interest(60_000.0, False, 73_100.0, 0.0, True)
    crash = open_interest(60_000.0, False, 73_100.0, 1.0, True)
    assert crash > calm + 8_000
    assert open_interest(60_000.0, False, 73_100.0, 1.0, False) < calm + 1_000  # other expiries: little
    assert open_interest(66_000.0, False, 73_100.0, 1.0, True) == open_interest(66_000.0, False, 73_100.0, 0.0, True)
