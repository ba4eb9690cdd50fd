"""Snapshot/restore of the detection state: feeding A then B equals feeding A, checkpointing, restoring, then B.

The events cover every detector (a crash and a squeeze across three venues,
options summaries, disconnects, duplicates); the split points fall before,
inside and after episodes, so the checkpoint carries idle, firing and cooling
state machines alike. Alerts after the split and the final state must be
identical.
"""

from __future__ import annotations

import dataclasses
import functools

import msgspec
import pytest

from monitor.alert import Alert
from monitor.detectors import checkpoint
from monitor.detectors.config import AssetOverride, DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.detectors.runner import restore_checkpoint
from monitor.events import Event
from tests.unit.detectors.market import MINUTE, T0, Market, gap
from tests.unit.detectors.test_options import summary


@functools.cache
def events() -> tuple[Event, ...]:
    market = Market(seed=7)
    market.calm(60)
    market.crash(30)
    market.calm(20)
    market.squeeze(20)
    market.calm(40)
    out = market.sorted_events()
    # A skew episode in the options summaries, two disconnects and a redelivered stretch.
    out += [summary(T0 + m * MINUTE, rr7=-12.0 if 70 <= m < 100 else 1.0) for m in range(0, 170, 2)]
    out += [gap(T0 + 75 * MINUTE, "bybit", ("BTC",)), gap(T0 + 130 * MINUTE, "okx")]
    ordered = sorted(out, key=lambda e: e.ts_ms)
    ordered[4000:4000] = ordered[3500:3600]  # duplicates: at-least-once delivery
    return tuple(ordered)


def feed(engine: DetectionEngine, stretch: tuple[Event, ...]) -> list[Alert]:
    alerts: list[Alert] = []
    for event in stretch:
        alerts += engine.feed(event)
    return alerts


def roundtrip(engine: DetectionEngine, settings: DetectorSettings) -> DetectionEngine:
    """Snapshot → checkpoint bytes → decode → restore into a fresh engine."""
    fingerprint = checkpoint.settings_fingerprint(settings)
    data = checkpoint.encode(checkpoint.Checkpoint(checkpoint.VERSION, fingerprint, 3, "1-0", 0, engine.snapshot()))
    restored = DetectionEngine(settings)
    restored.restore(checkpoint.decode(data, settings).state)
    return restored


def state_bytes(engine: DetectionEngine) -> bytes:
    return msgspec.json.encode(engine.snapshot())


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.4, 0.47, 0.55, 0.62, 0.75, 0.9])
def test_restored_engine_continues_exactly_like_the_original(fraction: float) -> None:
    settings = DetectorSettings()
    stream = events()
    split = int(len(stream) * fraction)
    original = DetectionEngine(settings)
    feed(original, stream[:split])
    restored = roundtrip(original, settings)
    assert state_bytes(restored) == state_bytes(original)
    assert restored.firing() == original.firing()

    expected = feed(original, stream[split:])
    assert feed(restored, stream[split:]) == expected
    assert state_bytes(restored) == state_bytes(original)


def test_the_events_exercise_every_detector_and_splits_fall_inside_episodes() -> None:
    """Guards the table above: a split inside firing episodes of every kind, and alerts after it."""
    settings = DetectorSettings()
    stream = events()
    engine = DetectionEngine(settings)
    kinds = {alert.kind for alert in feed(engine, stream)}
    assert {"liquidation_cascade", "oi_collapse", "funding_flip", "skew_extreme"} <= kinds
    engine = DetectionEngine(settings)
    feed(engine, stream[: int(len(stream) * 0.47)])
    assert {view.kind for view in engine.firing()} == {
        "liquidation_cascade",
        "oi_collapse",
        "funding_flip",
        "skew_extreme",
    }


def test_checkpoint_of_another_version_or_other_settings_is_refused() -> None:
    settings = DetectorSettings()
    engine = DetectionEngine(settings)
    feed(engine, events()[:500])
    fingerprint = checkpoint.settings_fingerprint(settings)
    for version in (1, checkpoint.VERSION + 1):  # the previous release's format (ids as strings), a later one
        other_format = checkpoint.Checkpoint(version, fingerprint, 0, "1-0", 0, engine.snapshot())
        with pytest.raises(checkpoint.CheckpointRefused) as refused:
            checkpoint.decode(checkpoint.encode(other_format), settings)
        assert refused.value.reason == "version"

    current = checkpoint.encode(checkpoint.Checkpoint(checkpoint.VERSION, fingerprint, 0, "1-0", 0, engine.snapshot()))
    other = dataclasses.replace(settings, assets={"BTC": AssetOverride(cascade={"window_s": 120.0})})
    with pytest.raises(checkpoint.CheckpointRefused) as refused:
        checkpoint.decode(current, other)
    assert refused.value.reason == "settings"
    # Runner settings do not shape detection: the checkpoint stays usable.
    assert checkpoint.decode(current, dataclasses.replace(settings, lease_ttl_s=30.0, lease_renew_s=10.0))

    with pytest.raises(checkpoint.CheckpointRefused) as refused:
        checkpoint.decode(b"\x80not json", settings)
    assert refused.value.reason == "decode"


def test_restore_needs_a_fresh_engine() -> None:
    settings = DetectorSettings()
    engine = DetectionEngine(settings)
    feed(engine, events()[:200])
    with pytest.raises(ValueError, match="fresh engine"):
        engine.restore(engine.snapshot())


@pytest.mark.parametrize(
    ("shard", "entry_id", "boundary", "reason"),
    [
        (1, f"{T0}-0", None, "decode"),  # stored under another shard
        (3, f"{T0 - 7 * 3_600_000}-0", None, "stale"),  # older than rebuild_hours (6 h)
        (3, f"{T0}-5", (T0, 5), "ahead"),  # covers the first entry the previous owner never got
    ],
)
def test_a_checkpoint_that_does_not_fit_the_takeover_is_refused(
    shard: int, entry_id: str, boundary: tuple[int, int] | None, reason: str
) -> None:
    settings = DetectorSettings()
    engine = DetectionEngine(settings)
    feed(engine, events()[:300])
    fingerprint = checkpoint.settings_fingerprint(settings)
    data = checkpoint.encode(checkpoint.Checkpoint(checkpoint.VERSION, fingerprint, 3, entry_id, 0, engine.snapshot()))
    with pytest.raises(checkpoint.CheckpointRefused) as refused:
        restore_checkpoint(data, shard, boundary, settings, now_ms=T0 + 1000)
    assert refused.value.reason == reason


def test_a_checkpoint_that_fits_restores_the_state_it_holds() -> None:
    settings = DetectorSettings()
    engine = DetectionEngine(settings)
    feed(engine, events()[:3000])
    fingerprint = checkpoint.settings_fingerprint(settings)
    state = engine.snapshot()
    data = checkpoint.encode(checkpoint.Checkpoint(checkpoint.VERSION, fingerprint, 3, f"{T0}-4", 0, state))
    restored, saved = restore_checkpoint(data, 3, (T0, 5), settings, now_ms=T0 + 1000)
    assert saved.entry_id == f"{T0}-4"
    assert state_bytes(restored) == msgspec.json.encode(state)


def test_a_checkpoint_whose_state_does_not_restore_is_refused() -> None:
    settings = DetectorSettings()
    fingerprint = checkpoint.settings_fingerprint(settings)
    broken = {
        "event_gate": {"clock_ms": 1, "ids": []},
        "next_tick_ms": 0,
        "assets": {"BTC": {"ctx": {}}},
        "spellings": {},
    }
    data = checkpoint.encode(checkpoint.Checkpoint(checkpoint.VERSION, fingerprint, 3, f"{T0}-0", 0, broken))
    with pytest.raises(checkpoint.CheckpointRefused) as refused:
        restore_checkpoint(data, 3, None, settings, now_ms=T0 + 1000)
    assert refused.value.reason == "decode"


def test_a_checkpoint_of_the_float_sums_format_is_refused_and_would_not_restore() -> None:
    """Format 2 held open-interest sums as floats; this release rebuilds them from the sources instead."""
    settings = DetectorSettings()
    engine = DetectionEngine(settings)
    feed(engine, events()[:3000])
    state = engine.snapshot()
    for asset in state["assets"].values():  # the format-2 shape of every open-interest state
        oi = asset["oi"]
        for group in (oi["total"], *oi["venues"].values()):
            group["sums"] = [1.0, 1.0, 1.0, 1, group.pop("next_eval_ms")]
        oi["recounted_at"], oi["recount_until"] = 0, None
    fingerprint = checkpoint.settings_fingerprint(settings)
    for version, reason in ((2, "version"), (checkpoint.VERSION, "decode")):
        data = checkpoint.encode(checkpoint.Checkpoint(version, fingerprint, 3, f"{T0}-4", 0, state))
        with pytest.raises(checkpoint.CheckpointRefused) as refused:
            restore_checkpoint(data, 3, None, settings, now_ms=T0 + 1000)
        assert refused.value.reason == reason
