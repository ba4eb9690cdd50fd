"""Replay-style scenarios from the seeded generator, through the default settings.

A crash (tens of millions of long liquidations per minute, OI falling in base
units, funding turning negative) followed by a short squeeze must fire the
three detectors at the right moments; an ordinary day must raise nothing.
"""

from __future__ import annotations

import pytest

from monitor.alert import Alert
from monitor.detectors.config import DetectorSettings
from monitor.detectors.engine import DetectionEngine
from tests.unit.detectors.market import MINUTE, T0, Market


def replay(market: Market) -> list[Alert]:
    engine = DetectionEngine(DetectorSettings())
    out: list[Alert] = []
    for event in market.sorted_events():
        out += engine.feed(event)
    return out


def minute_of(alert: Alert) -> float:
    return (alert.ts_ms - T0) / MINUTE


def first(alerts: list[Alert], kind: str, direction: str, status: str = "firing") -> Alert:
    matches = [a for a in alerts if (a.kind, a.direction, a.status, a.venue) == (kind, direction, status, None)]
    assert matches, f"no {status} {kind} {direction}"
    return matches[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_crash_then_squeeze_fires_the_three_detectors_in_order(seed: int) -> None:
    market = Market(seed=seed)
    market.calm(120)  # 00:00-02:00 warm-up and baseline
    market.crash(60)  # 02:00-03:00
    market.calm(30)
    market.squeeze(30)  # 03:30-04:00
    market.calm(300)
    alerts = replay(market)

    cascade = first(alerts, "liquidation_cascade", "long")
    assert 120 <= minute_of(cascade) < 123  # within the first minutes of the crash
    collapse = first(alerts, "oi_collapse", "down")
    assert 120 < minute_of(collapse) < 180
    flip = first(alerts, "funding_flip", "negative")
    assert 135 <= minute_of(flip) < 180  # after the 15-minute confirmation, before the crash ends
    assert minute_of(cascade) < minute_of(collapse) < minute_of(flip)

    critical = [
        a
        for a in alerts
        if a.kind == "liquidation_cascade"
        and a.direction == "long"
        and a.status == "firing"
        and a.severity == "critical"
    ]
    assert len(critical) == 1
    during = [a for a in alerts if a.kind == "liquidation_cascade" and a.direction == "long"]
    assert during[-1].status == "resolved"
    assert during[-1].values["price_change_pct"] < -10
    assert during[-1].values["total_usd"] > 500e6

    squeeze = first(alerts, "liquidation_cascade", "short")
    assert 210 <= minute_of(squeeze) < 215
    back = first(alerts, "funding_flip", "positive")
    assert minute_of(back) > minute_of(flip)
    assert first(alerts, "funding_flip", "negative", "resolved").ts_ms == back.ts_ms

    # The regime note once OI has had time to fall: a leverage flush, not spot selling.
    assert critical[0].values["regime"] in ("leverage_flush", "mixed")
    resolved_long = first(alerts, "liquidation_cascade", "long", "resolved")
    assert resolved_long.values["regime"] == "leverage_flush"
    for alert in alerts:
        if alert.kind == "liquidation_cascade" and alert.status == "firing":
            assert alert.values["regime_note"] in alert.summary

    # Every episode resolves once; no firing is announced twice.
    episodes: dict[tuple[str, str | None, str, int], list[str]] = {}
    for alert in alerts:
        episodes.setdefault((alert.kind, alert.venue, alert.direction, alert.started_ms), []).append(alert.status)
    for statuses in episodes.values():
        assert statuses.count("resolved") <= 1
        assert statuses[0] == "firing"


@pytest.mark.parametrize("seed", [3, 4])
def test_an_ordinary_day_raises_nothing(seed: int) -> None:
    market = Market(seed=seed)
    market.calm(24 * 60)
    hourly = sum(e.notional_usd or 0 for e in market.events if e.kind == "liquidation") / 24  # type: ignore[union-attr]
    assert 100e3 <= hourly <= 2e6  # a calm day: a few $100k-$1M per hour
    assert replay(market) == []
