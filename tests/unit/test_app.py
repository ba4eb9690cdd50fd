"""The composition root's bus wrapper: taps see what is published; without event taps events still flow."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.alert import Alert
from monitor.app import TappedBus
from monitor.bus.memory import MemoryBus
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
