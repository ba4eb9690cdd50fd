"""The in-memory bus: order, overflow accounting, gap fan-out, alerts, leases, scrape gauges."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from prometheus_client import generate_latest

from monitor.bus.base import ENTRY_MAX_EVENTS, shard_of, target_shards
from monitor.bus.memory import MemoryBus
from monitor.events import Gap
from monitor.metrics import Metrics
from tests.support.builders import alert, liq
from tests.support.builders import event_ids as ids


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Yield to the loop until ``condition`` holds, failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polling an observable value, not waiting for an event
            await asyncio.sleep(0)


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float | None:
    return metrics.registry.get_sample_value(name, labels or {})


async def test_events_come_out_in_publish_order_per_shard(metrics: Metrics) -> None:
    bus = MemoryBus(shard_count=3, metrics=metrics)
    events = [liq(i, base) for i, base in enumerate(["BTC", "ETH", "SOL", "XRP"] * 25)]
    bus.publish(events)
    got = await bus.read_events(range(3), "c", count=1000, block_ms=0)
    assert sorted(ids(got)) == sorted(e.id for e in events)
    for shard in range(3):
        expected = [e.id for e in events if shard_of(e.base, 3) == shard]
        assert ids(got, shard) == expected
    assert len(got) == len({shard_of(e.base, 3) for e in events})  # one entry per shard and publish call
    assert sample(metrics, "liqmon_bus_published_total", {"stream": "events"}) == 100
    assert sample(metrics, "liqmon_bus_consumed_total", {"stream": "events"}) == 100


async def test_read_respects_count_in_entries_and_returns_empty_after_block(metrics: Metrics) -> None:
    bus = MemoryBus(max_events=10_000, metrics=metrics)
    events = [liq(i) for i in range(3 * ENTRY_MAX_EVENTS)]
    bus.publish(events)
    first = await bus.read_events([0], "c", count=2, block_ms=0)
    assert ids(first) == [e.id for e in events[: 2 * ENTRY_MAX_EVENTS]]
    assert ids(await bus.read_events([0], "c", count=10, block_ms=0)) == [e.id for e in events[2 * ENTRY_MAX_EVENTS :]]
    assert await bus.read_events([0], "c", count=10, block_ms=10) == []


async def test_publishes_between_reads_share_an_entry(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    for i in range(5):
        bus.publish([liq(2 * i), liq(2 * i + 1)])
    got = await bus.read_events([0], "c", count=10, block_ms=0)
    assert [len(entry.events) for entry in got] == [10]
    bus.publish([liq(10)])  # the entry already read is not extended: a new one starts
    again = await bus.read_events([0], "c", count=10, block_ms=0)
    assert ids(again) == ["10"]
    assert again[0].entry_id != got[0].entry_id
    assert ids(got) == [str(i) for i in range(10)]


async def test_entries_are_bounded_in_events(metrics: Metrics) -> None:
    bus = MemoryBus(max_events=10_000, metrics=metrics)
    events = [liq(i) for i in range(2 * ENTRY_MAX_EVENTS + 3)]
    bus.publish(events)
    got = await bus.read_events([0], "c", count=10, block_ms=0)
    assert [len(entry.events) for entry in got] == [ENTRY_MAX_EVENTS, ENTRY_MAX_EVENTS, 3]
    assert ids(got) == [e.id for e in events]


async def test_blocked_reader_wakes_on_publish(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    reader = asyncio.create_task(bus.read_events([0], "c", count=10, block_ms=5_000))
    await asyncio.sleep(0)  # let the reader start waiting
    bus.publish([liq(1)])
    async with asyncio.timeout(5):
        got = await reader
    assert ids(got) == ["1"]


async def test_full_shard_drops_oldest_and_counts(metrics: Metrics) -> None:
    bus = MemoryBus(max_events=10, metrics=metrics)
    bus.publish([liq(i) for i in range(25)])
    assert sample(metrics, "liqmon_bus_overflow_total") == 15
    got = await bus.read_events([0], "c", count=100, block_ms=0)
    assert ids(got) == [str(i) for i in range(15, 25)]
    assert bus.backlog() == 0


@pytest.mark.parametrize(
    ("bases", "expected"),
    [((), {0, 1, 2, 3}), (("BTC",), {shard_of("BTC", 4)}), (("BTC", "ETH"), {shard_of("BTC", 4), shard_of("ETH", 4)})],
)
async def test_gap_fans_out(bases: tuple[str, ...], expected: set[int], metrics: Metrics) -> None:
    gap = Gap(id="g", venue="okx", reason="closed", ts_ms=1, recv_ms=1, bases=bases)
    assert set(target_shards(gap, 4)) == expected
    bus = MemoryBus(shard_count=4, metrics=metrics)
    bus.publish([gap])
    got = await bus.read_events(range(4), "c", count=10, block_ms=0)
    assert {d.shard for d in got} == expected
    assert all(list(d.events) == [gap] for d in got)


async def test_alerts_dead_letters_and_dedup(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    for n in range(3):
        await bus.publish_alert(alert(n))
    got = await bus.read_alerts("d", count=2, block_ms=0)
    assert [d.item.id for d in got] == ["a0", "a1"]
    assert all(d.shard == -1 for d in got)
    assert [d.item.id for d in await bus.read_alerts("d", count=5, block_ms=0)] == ["a2"]
    assert await bus.read_alerts("d", count=5, block_ms=10) == []
    await bus.dead_letter(alert(1), "webhook", "410 gone")
    assert bus.dead_letters == [(alert(1), "webhook", "410 gone")]
    assert await bus.claim_once("a1:webhook", 1000) is True
    assert await bus.claim_once("a1:webhook", 1000) is False


async def test_leases_belong_to_one_owner(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    assert await bus.acquire_lease("shard:0", "a", 1000) is True
    assert await bus.acquire_lease("shard:0", "b", 1000) is False
    await bus.release_lease("shard:0", "b")
    assert await bus.acquire_lease("shard:0", "b", 1000) is False
    await bus.release_lease("shard:0", "a")
    assert await bus.acquire_lease("shard:0", "b", 1000) is True


async def test_stream_gauges_exist_while_running(metrics: Metrics) -> None:
    bus = MemoryBus(shard_count=2, metrics=metrics)
    stop = asyncio.Event()
    task = asyncio.create_task(bus.run(stop))
    await wait_until(lambda: sample(metrics, "liqmon_bus_stream_length", {"stream": "alerts"}) is not None)
    bus.publish([liq(i, "BTC") for i in range(ENTRY_MAX_EVENTS + 1)])  # two entries
    shard = shard_of("BTC", 2)
    assert sample(metrics, "liqmon_bus_stream_length", {"stream": f"events:{shard}"}) == 2
    assert sample(metrics, "liqmon_bus_lag_entries", {"stream": f"events:{shard}", "group": "detectors"}) == 2
    assert sample(metrics, "liqmon_bus_pending_entries", {"stream": f"events:{shard}", "group": "detectors"}) == 0
    assert sample(metrics, "liqmon_bus_stream_length", {"stream": "alerts"}) == 0
    stop.set()
    await task
    assert "liqmon_bus_stream_length" not in generate_latest(metrics.registry).decode()
