"""Scenarios through the real parsers and the detection engine with default settings."""

from __future__ import annotations

from collections import Counter

import pytest

from monitor.alerts.model import Alert
from monitor.backtest import detect, parse_records
from monitor.detectors.config import DetectorSettings
from monitor.sim.scenario import generate

pytestmark = pytest.mark.integration


def _alerts(name: str, hours: float, seed: int = 1) -> list[Alert]:
    parsed = parse_records(generate(name, seed=seed, hours=hours).records)
    assert not parsed.parse_errors
    return detect(parsed.events, DetectorSettings())


def _first_firing(alerts: list[Alert], kind: str, direction: str) -> int:
    times = [a.ts_ms for a in alerts if (a.kind, a.direction, a.status, a.venue) == (kind, direction, "firing", None)]
    assert times, f"no {kind} {direction} fired"
    return min(times)


@pytest.mark.slow
def test_feb_2026_crash_raises_the_flush_in_order() -> None:
    alerts = _alerts("feb-2026-crash", hours=12)
    cascade = _first_firing(alerts, "liquidation_cascade", "long")
    flip = _first_firing(alerts, "funding_flip", "negative")
    collapse = _first_firing(alerts, "oi_collapse", "down")
    squeeze = _first_firing(alerts, "liquidation_cascade", "short")
    assert cascade < flip < collapse < squeeze
    critical = [
        a for a in alerts if a.kind == "liquidation_cascade" and a.direction == "long" and a.severity == "critical"
    ]
    assert critical, "the 5 Feb cascade should reach critical"
    resolved = [
        a
        for a in alerts
        if a.status == "resolved" and a.kind == "liquidation_cascade" and a.venue is None and a.direction == "long"
    ]
    assert sum(a.values["total_usd"] for a in resolved) > 500e6


def _flapping(alerts: list[Alert]) -> Counter[tuple[str, str | None, str]]:
    firing = Counter((a.kind, a.venue, a.direction) for a in alerts if a.status == "firing")
    return Counter({key: n for key, n in firing.items() if n > 1})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["calm", "funding-chop", "slow-bleed"])
def test_quiet_scenarios_raise_no_cascade_and_do_not_flap(name: str) -> None:
    alerts = _alerts(name, hours=6)
    assert not [a for a in alerts if a.kind == "liquidation_cascade"]
    assert not _flapping(alerts)
    if name == "calm":
        assert alerts == []
