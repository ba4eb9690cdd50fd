"""Open-interest collapse and surge: base units, stale and disconnected venues, per-venue alerts."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random

import pytest

from monitor.alert import Alert
from monitor.detectors.config import AssetOverride, DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.events import Event, OpenInterest
from tests.unit.detectors.market import T0, gap, oi, with_heartbeats

OI = {"window_s": 600.0, "bucket_s": 1.0, "stale_s": 30.0, "hold_s": 30.0, "cooldown_s": 300.0}


def engine(*, per_venue: bool = True, **oi_settings: float) -> DetectionEngine:
    base = DetectorSettings()
    major = dataclasses.replace(
        base.major, open_interest=dataclasses.replace(base.major.open_interest, per_venue=per_venue)
    )
    return DetectionEngine(
        dataclasses.replace(base, major=major, assets={"BTC": AssetOverride(open_interest={**OI, **oi_settings})})
    )


def at(second: float) -> int:
    return T0 + int(second * 1000)


def series(
    venue: str, values: list[tuple[float, float]], until: float, step: float = 5, price: float = 70_000.0
) -> list[Event]:
    """Reports every ``step`` s, linearly between (second, oi_base) points, flat after the last one."""
    out: list[Event] = []
    t = values[0][0]
    while t <= until:
        value = values[-1][1]
        for (t0, v0), (t1, v1) in itertools.pairwise(values):
            if t0 <= t <= t1:
                value = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
                break
        out.append(oi(at(t), value, venue, price=price))
        t += step
    return out


def run(e: DetectionEngine, events: list[Event], until_s: float) -> list[Alert]:
    out: list[Alert] = []
    for event in with_heartbeats(sorted(events, key=lambda x: x.ts_ms), at(until_s)):
        out += e.feed(event)
    return [a for a in out if a.kind in ("oi_collapse", "oi_surge")]


def brief(alerts: list[Alert]) -> list[tuple[str, str, str, str | None]]:
    return [(a.kind, a.status, a.severity, a.venue) for a in alerts]


def test_collapse_in_base_units_fires_and_resolves() -> None:
    events = series("binance", [(0, 100_000), (100, 100_000), (200, 96_000)], until=900)
    events += series("okx", [(0, 50_000), (100, 50_000), (200, 48_000)], until=900)
    alerts = run(engine(), events, until_s=900)
    assert brief(alerts) == [("oi_collapse", "firing", "info", None), ("oi_collapse", "resolved", "info", None)]
    firing = alerts[0]
    assert firing.direction == "down"
    assert firing.values["move_pct"] >= 3.0
    assert firing.values["reference_base"] == 150_000
    # Resolves once the 600 s window no longer holds the old high (plus the 30 s hold).
    assert alerts[1].ts_ms >= at(100 + 600)


def test_price_fall_alone_does_not_fire() -> None:
    events: list[Event] = []
    for i, t in enumerate(range(0, 600, 5)):
        price = 70_000 * (1 - 0.3 * i / 120)  # OI in USD falls 30 %, base units flat
        events.append(oi(at(t), 100_000.0, "binance", price=price))
    assert run(engine(), events, until_s=700) == []


def test_quiet_venue_is_excluded_from_high_and_current() -> None:
    events = series("binance", [(0, 100_000)], until=100)  # goes quiet after 100 s
    events += series("okx", [(0, 50_000)], until=800)
    e = engine()
    assert run(e, events, until_s=800) == []
    assert e.detectors("BTC").ctx.oi_change_pct == 0.0  # type: ignore[union-attr]


def test_disconnected_venue_never_looks_like_a_collapse_and_comes_back() -> None:
    events = series("binance", [(0, 100_000)], until=100)
    events.append(gap(at(101), "binance", ("BTC",)))
    events += series("binance", [(400, 100_000)], until=800)  # reconnects at 400 s, same level
    events += series("okx", [(0, 50_000)], until=800)
    assert run(engine(), events, until_s=800) == []


def test_real_drop_while_a_venue_is_away_still_fires() -> None:
    events = series("binance", [(0, 100_000)], until=100)
    events.append(gap(at(101), "binance"))  # whole venue
    events += series("okx", [(0, 50_000), (150, 50_000), (250, 46_000)], until=400)  # -8 % on okx
    alerts = run(engine(per_venue=False), events, until_s=400)
    assert brief(alerts) == [
        ("oi_collapse", "firing", "info", None),
        ("oi_collapse", "firing", "warning", None),
        ("oi_collapse", "firing", "critical", None),
    ]
    assert alerts[0].values["excluded"] == ["binance:BTCUSDT"]


def test_surge_fires_upwards() -> None:
    events = series("bybit", [(0, 100_000), (100, 100_000), (200, 106_000)], until=300)
    alerts = run(engine(), events, until_s=300)
    assert [(a.kind, a.status, a.direction) for a in alerts][:1] == [("oi_surge", "firing", "up")]


def test_single_venue_collapse_is_reported_for_that_venue() -> None:
    events = series("binance", [(0, 10_000), (100, 10_000), (200, 9_400)], until=300)  # -6 % on a small venue
    events += series("okx", [(0, 100_000)], until=300)
    alerts = run(engine(), events, until_s=300)
    assert brief(alerts) == [("oi_collapse", "firing", "info", "binance")]


def test_older_report_than_the_held_one_is_ignored() -> None:
    e = engine()
    events = with_heartbeats(series("okx", [(0, 100_000)], until=200), at(200))
    events.append(oi(at(195), 80_000.0, "okx", price=70_000.0))  # arrives after the 200 s report
    out: list[Alert] = []
    for event in events:
        out += e.feed(event)
    assert e.counts["processed"] == len(events)  # within the reorder tolerance: processed, not late
    assert [a for a in out if a.kind == "oi_collapse"] == []


def inverse(ts: int, face_usd: float, venue: str, price: float) -> OpenInterest:
    """An inverse contract's report as the adapters give it: USD face value, base = face ÷ price."""
    symbol = {"bitmex": "XBTUSD", "deribit": "BTC-PERPETUAL", "okx": "BTC-USD-SWAP"}[venue]
    return OpenInterest(
        id=f"inv-{venue}-{ts}",
        venue=venue,
        symbol=symbol,
        base="BTC",
        quote="USD",
        contract="inverse",
        ts_ms=ts,
        recv_ms=ts,
        oi_base=face_usd / price,
        oi_usd=face_usd,
    )


def inverse_market(faces: list[tuple[float, float]], prices: list[tuple[float, float]], until: float) -> list[Event]:
    """BitMEX, Deribit and OKX inverse reports every 5 s: face USD and price interpolated between points."""

    def value(points: list[tuple[float, float]], t: float) -> float:
        for (t0, v0), (t1, v1) in itertools.pairwise(points):
            if t0 <= t <= t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return points[-1][1]

    share = {"bitmex": 0.5, "deribit": 0.3, "okx": 0.2}
    return [
        inverse(at(t), value(faces, t) * part, venue, value(prices, t))
        for t in range(0, int(until) + 1, 5)
        for venue, part in share.items()
    ]


@pytest.mark.parametrize(
    ("faces", "prices", "expected"),
    [
        # Positions unchanged (same USD face) while the price falls 12 % or rises 12 %: nothing.
        pytest.param([(0, 4e9)], [(0, 70_000), (200, 70_000), (440, 61_600)], [], id="price-fall-alone"),
        pytest.param([(0, 4e9)], [(0, 70_000), (200, 70_000), (440, 78_400)], [], id="price-rise-alone"),
        # A tenth of the contracts closed while the price is flat: a collapse of 10 % (critical at 8 %).
        pytest.param(
            [(0, 4e9), (200, 4e9), (300, 3.6e9)],
            [(0, 70_000)],
            [
                ("oi_collapse", "firing", "info"),
                ("oi_collapse", "firing", "warning"),
                ("oi_collapse", "firing", "critical"),
            ],
            id="contracts-closed",
        ),
        # Contracts closed while the price falls: still the 10 % of positions, not 10 % plus the price.
        pytest.param(
            [(0, 4e9), (200, 4e9), (300, 3.6e9)],
            [(0, 70_000), (200, 70_000), (300, 61_600)],
            [
                ("oi_collapse", "firing", "info"),
                ("oi_collapse", "firing", "warning"),
                ("oi_collapse", "firing", "critical"),
            ],
            id="contracts-closed-in-a-fall",
        ),
    ],
)
def test_inverse_venues_are_measured_in_positions_not_in_price(
    faces: list[tuple[float, float]], prices: list[tuple[float, float]], expected: list[tuple[str, str, str]]
) -> None:
    alerts = run(engine(per_venue=False), inverse_market(faces, prices, until=500), until_s=500)
    assert [(k, s, sev) for k, s, sev, _ in brief(alerts)] == expected


def test_venue_back_after_a_drop_it_missed_is_no_surge() -> None:
    """Binance is away while the market's OI falls 8 %; it comes back at its own lower level."""
    events = series("binance", [(0, 100_000)], until=100)
    events.append(gap(at(101), "binance", ("BTC",)))
    events += series("binance", [(400, 92_000)], until=800)
    events += series("okx", [(0, 50_000), (150, 50_000), (250, 46_000)], until=800)
    alerts = run(engine(per_venue=False), events, until_s=800)
    assert [a for a in alerts if a.kind == "oi_surge"] == []
    firing = [a for a in alerts if a.status == "firing"]
    assert [a.severity for a in firing] == ["info", "warning", "critical"]  # one collapse, escalated once each
    assert firing[-1].values["excluded"] == ["binance:BTCUSDT"]  # told by okx while Binance was away


def test_running_sums_equal_a_sum_from_scratch_over_a_random_hour() -> None:
    """Reports, glitches, disconnects and quiet spells on many sources: the sums never drift from a fresh sum."""
    rng = random.Random(7)
    e = engine()
    venues, symbols = ("binance", "bybit", "okx"), ("BTCUSDT", "BTCUSDC", "BTCUSD")
    level = {(v, s): rng.uniform(1_000, 90_000) for v in venues for s in symbols}
    t = at(0)
    for _ in range(6_000):
        t += rng.randrange(0, 1_500)
        if rng.random() < 0.01:
            e.feed(gap(t, rng.choice(venues)))
            continue
        venue, symbol = rng.choice(venues), rng.choice(symbols)
        level[venue, symbol] *= 1 + rng.gauss(0, 0.004)
        e.feed(oi(t, level[venue, symbol], venue, symbol=symbol))
        state = e.detectors("BTC")
        assert state is not None
        oi_state = state.oi
        oi_state.evaluate(t)  # a tick at the report's time: visits whatever is due
        for group in (oi_state.total, *oi_state.venues.values()):
            counted = [s for s in oi_state.sources.values() if s.counted and group.venue in (None, s.venue)]
            assert group.sources == len(counted)
            assert group.current == math.fsum(s.value for s in counted)
            assert group.high == math.fsum(s.part_high for s in counted)
            assert group.low == math.fsum(s.part_low for s in counted)
