"""The runner over the in-memory bus: alerts published, metrics kept, drain on stop."""

from __future__ import annotations

import asyncio

from monitor.alert import Alert
from monitor.bus.memory import MemoryBus
from monitor.detectors.config import AssetOverride, DetectorSettings
from monitor.detectors.runner import DetectorRunner, entry_key, lease_name
from monitor.metrics import Metrics
from tests.unit.detectors.market import T0, heartbeat, liq

SETTINGS = DetectorSettings(
    assets={
        "BTC": AssetOverride(
            cascade={
                "window_s": 60.0,
                "bucket_s": 1.0,
                "floor_usd": 1_000_000.0,
                "min_count": 3.0,
                "warmup_min": 0.0,
                "hold_s": 5.0,
            }
        )
    },
    block_ms=50,
)


async def read_alerts(bus: MemoryBus, want: int, timeout: float = 5.0) -> list[Alert]:
    got: list[Alert] = []
    async with asyncio.timeout(timeout):
        while len(got) < want:
            got += [d.item for d in await bus.read_alerts("test", count=100, block_ms=200)]
    return got


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_runner_publishes_alerts_and_keeps_metrics(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    runner = DetectorRunner(SETTINGS, bus, metrics, consumer="one")
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    bus.publish([liq(T0 + i * 1000, "long", 400e3) for i in range(3)])
    firing = await read_alerts(bus, 1)
    assert [(a.kind, a.status, a.direction) for a in firing] == [("liquidation_cascade", "firing", "long")]
    assert sample(metrics, "liqmon_detector_shards_owned") == 1
    assert sample(metrics, "liqmon_detector_state", kind="liquidation_cascade", base="BTC", direction="long") == 1
    assert sample(metrics, "liqmon_cascade_window_notional_usd", base="BTC", direction="long") == 1_200_000
    bus.publish([heartbeat(T0 + s * 1000) for s in range(3, 80)])
    resolved = await read_alerts(bus, 1)
    assert [a.status for a in resolved] == ["resolved"]
    assert resolved[0].started_ms == firing[0].started_ms
    stop.set()
    await asyncio.wait_for(task, 5)
    # One process, no takeover: no detector checkpoint is taken (not even on the way out).
    assert await bus.load_checkpoint(lease_name(0)) is None
    assert sample(metrics, "liqmon_detector_checkpoints_total", outcome="written") is None
    assert (
        sample(metrics, "liqmon_alerts_raised_total", kind="liquidation_cascade", severity="info", status="firing") == 1
    )
    assert sample(metrics, "liqmon_detector_events_total", outcome="processed") == 80
    assert sample(metrics, "liqmon_decision_latency_seconds_count") == 80
    assert sample(metrics, "liqmon_detector_shards_owned") == 0
    assert await bus.acquire_lease(lease_name(0), "someone-else", 1000)  # released on the way out


async def test_events_readable_at_stop_are_drained_and_counted(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    runner = DetectorRunner(SETTINGS, bus, metrics, consumer="one")
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    bus.publish([liq(T0 + i, "long", 400e3) for i in range(3)])
    assert [a.status for a in await read_alerts(bus, 1)] == ["firing"]
    big = liq(T0 + 2000, "long", 4e6)
    bus.publish([big, big])  # readable when stop is set: handled, published and acked before returning
    stop.set()
    await asyncio.wait_for(task, 5)
    assert bus.depth() == 0
    alerts = [d.item for d in await bus.read_alerts("test", count=10, block_ms=0)]
    assert [(a.status, a.severity) for a in alerts] == [("firing", "critical")]
    assert sample(metrics, "liqmon_detector_events_total", outcome="duplicate") == 1


async def test_shard_held_by_another_process_is_not_consumed(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    assert await bus.acquire_lease(lease_name(0), "other", 10_000)
    runner = DetectorRunner(SETTINGS, bus, metrics, consumer="one")
    stop = asyncio.Event()
    bus.publish([heartbeat(T0)])
    task = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert bus.depth() == 1
    assert sample(metrics, "liqmon_detector_shards_owned") == 0


def test_entry_ids_compare_as_numbers() -> None:
    assert entry_key("1700000000000-10") > entry_key("1700000000000-9")
    assert entry_key("1700000000001-0") > entry_key("1700000000000-99")
