"""The composition root: taps see what is published, without event taps events still flow; a replay
counts, observes and publishes every record."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from monitor.alert import Alert
from monitor.app import CaptureSource, TappedBus
from monitor.bus.memory import MemoryBus
from monitor.capture.format import CaptureRecord, iter_records
from monitor.capture.replay import CaptureDecoder
from monitor.events import Event
from monitor.metrics import Metrics
from tests.support.builders import alert, liq
from tests.support.builders import event_ids as ids


async def test_taps_see_what_is_published_and_the_bus_gets_it(metrics: Metrics) -> None:
    inner = MemoryBus(shard_count=1, metrics=metrics)
    seen: list[Sequence[Event]] = []
    alerts: list[Alert] = []
    bus = TappedBus(inner, [seen.append], [alerts.append])
    events = [liq(1), liq(2)]
    bus.publish(events)
    await bus.publish_alert(alert(1))
    assert seen == [events]
    assert [a.id for a in alerts] == ["a1"]
    assert ids(await inner.read_events([0], "c", count=10, block_ms=0)) == ["1", "2"]


async def test_without_event_taps_events_still_reach_the_bus(metrics: Metrics) -> None:
    inner = MemoryBus(shard_count=1, metrics=metrics)
    alerts: list[Alert] = []
    bus = TappedBus(inner, [], [alerts.append])
    bus.publish([liq(1), liq(2)])
    assert ids(await inner.read_events([0], "c", count=10, block_ms=0)) == ["1", "2"]
    await bus.publish_alert(alert(2))
    assert [a.id for a in alerts] == ["a2"]


SMALL_CAPTURE = Path(__file__).parents[1] / "fixtures" / "replay" / "small.jsonl"


def small_capture(copies: int) -> list[CaptureRecord]:
    """The readable records of the small fixture capture, ``copies`` times over."""
    lines = SMALL_CAPTURE.read_bytes().splitlines() * copies
    return list(iter_records(lines, metrics=Metrics(CollectorRegistry())))


async def test_a_replay_counts_observes_and_publishes_every_record_as_record_by_record(metrics: Metrics) -> None:
    # More than two chunks of 256 records between the replay's awaits, and a partial last one.
    records = small_capture(copies=80)
    one_by_one = Metrics(CollectorRegistry())
    decoder = CaptureDecoder(metrics=one_by_one)
    expected: list[Event] = []
    for record in records:
        events = decoder.decode(record)
        if record.frame is not None and record.meta is None:
            one_by_one.message_received(record.venue, events[0].kind if events else "control")
        one_by_one.observe_events(events)
        expected += events
    bus = MemoryBus(shard_count=1, metrics=metrics)
    source = CaptureSource(records, bus, metrics)

    await source.run(asyncio.Event())

    assert len(records) > 2 * 256
    assert source.published == len(expected) > 0
    assert metrics.market.messages == one_by_one.market.messages
    assert metrics.market.events == one_by_one.market.events
    assert metrics.market.funding == one_by_one.market.funding
    assert metrics.market.last_message.keys() == one_by_one.market.last_message.keys()
    entries = await bus.read_events([0], "c", count=len(expected), block_ms=0)
    assert ids(entries) == [event.id for event in expected]


async def test_a_replay_stopped_before_it_starts_publishes_nothing(metrics: Metrics) -> None:
    records = small_capture(copies=1)
    bus = MemoryBus(shard_count=1, metrics=metrics)
    source = CaptureSource(records, bus, metrics)
    stop = asyncio.Event()
    stop.set()

    await source.run(stop)

    assert source.published == 0
    assert metrics.market.messages == {}
    assert bus.backlog() == 0
