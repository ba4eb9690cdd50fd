"""The engine: hygiene (duplicates, reordering, late events), purity and determinism."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec
import pytest

from monitor.alert import Alert
from monitor.detectors.config import AssetOverride, DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.events import Event
from tests.unit.detectors.market import T0, Market, liq, with_heartbeats

DETECTORS = Path(__file__).resolve().parents[3] / "monitor" / "detectors"
CASCADE = {"window_s": 60.0, "bucket_s": 1.0, "floor_usd": 1_000_000.0, "min_count": 3.0, "warmup_min": 0.0}


def settings(**extra: float) -> DetectorSettings:
    return DetectorSettings(assets={"BTC": AssetOverride(cascade=CASCADE)}, **extra)  # type: ignore[arg-type]


def feed_all(engine: DetectionEngine, events: list[Event]) -> list[Alert]:
    out: list[Alert] = []
    for event in events:
        out += engine.feed(event)
    return out


def test_duplicates_are_ignored_and_counted() -> None:
    burst = [liq(T0 + i * 1000, "long", 300e3, ident=f"dup-{i}") for i in range(3)]
    engine = DetectionEngine(settings())
    # Each liquidation delivered twice: $900k counted once stays below the $1M floor.
    assert feed_all(engine, [e for e in burst for _ in range(2)]) == []
    assert {k: v for k, v in engine.counts.items() if v} == {"processed": 3, "duplicate": 3}
    assert engine.detectors("BTC").long.window.total == pytest.approx(900e3)  # type: ignore[union-attr]


def test_out_of_order_within_tolerance_counts_and_late_events_are_dropped() -> None:
    engine = DetectionEngine(settings(reorder_tolerance_s=10.0))
    events = [
        liq(T0 + 20_000, "long", 400e3),
        liq(T0 + 15_000, "long", 400e3),  # 5 s old: accepted
        liq(T0 + 5_000, "long", 400e3),  # 15 s old: late
        liq(T0 + 21_000, "long", 400e3),
    ]
    alerts = feed_all(engine, events)
    assert {k: v for k, v in engine.counts.items() if v} == {"processed": 3, "late": 1}
    assert [a.status for a in alerts] == ["firing"]
    assert alerts[0].values["window_count"] == 3


def test_timestamp_far_ahead_of_receive_time_uses_receive_time() -> None:
    engine = DetectionEngine(settings())
    ahead = liq(T0, "long", 1.0)
    skewed = msgspec.structs.replace(ahead, ts_ms=T0 + 3_600_000, id="skewed")
    engine.feed(skewed)
    assert engine.clock_ms == T0
    engine.feed(liq(T0 + 1000, "long", 1.0))
    assert engine.counts["late"] == 0


def test_same_events_replay_to_identical_alerts() -> None:
    market = Market(seed=7)
    market.calm(30)
    market.crash(15)
    market.calm(30)
    events = market.sorted_events()
    first = feed_all(DetectionEngine(DetectorSettings()), events)
    second = feed_all(DetectionEngine(DetectorSettings()), events)
    assert first
    assert first == second


def test_detector_modules_are_pure() -> None:
    """No asyncio, redis, sockets or clocks anywhere in detectors/ except the runner."""
    banned_modules = {"asyncio", "redis", "socket", "time", "datetime", "random", "threading", "monitor.bus"}
    for path in sorted(DETECTORS.glob("*.py")):
        if path.name == "runner.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                why = f"{path.name} imports {name}: detectors must be pure (time only from events)"
                assert root not in banned_modules, why
                assert not name.startswith("monitor.bus"), why


def test_ticks_resolve_an_asset_that_went_silent() -> None:
    engine = DetectionEngine(settings())
    burst = [liq(T0 + i * 1000, "long", 400e3) for i in range(3)]
    alerts = feed_all(engine, with_heartbeats(burst, T0 + 200_000))
    assert [a.status for a in alerts if a.base == "BTC"] == ["firing", "resolved"]
    assert engine.firing() == []
