"""Dispatcher fan-out, isolation of slow sinks, acknowledgement and dedup, over the in-memory bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from monitor.alert import Alert
from monitor.alerts.config import AlertSettings, RetrySettings, SeverityName
from monitor.alerts.dispatcher import Dispatcher
from monitor.alerts.worker import SinkPolicy
from monitor.bus.base import Delivery
from monitor.bus.memory import MemoryBus
from monitor.errors import RetryableDelivery
from monitor.metrics import Metrics
from tests.unit.alerts.helpers import make_alert

FAST = SinkPolicy(
    rate_per_s=1000, burst=1000, retry=RetrySettings(initial_s=0.01, max_s=0.02, give_up_after_s=5), probe_interval_s=60
)


class RecordingSink:
    """A sink that records what it got; can be gated (blocks until opened) or made to fail."""

    def __init__(
        self,
        name: str,
        *,
        gate: asyncio.Event | None = None,
        fail: BaseException | None = None,
        min_severity: SeverityName = "info",
    ) -> None:
        self.name = name
        self.min_severity: SeverityName = min_severity
        self.got: list[str] = []
        self.gate = gate
        self.fail = fail
        self.entered = asyncio.Event()
        self.changed = asyncio.Condition()

    async def send(self, alert: Alert) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        async with self.changed:
            self.got.append(alert.id)
            self.changed.notify_all()

    async def wait_count(self, n: int) -> None:
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(lambda: len(self.got) >= n)

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()

    async def aclose(self) -> None:
        pass


class AckCountingBus(MemoryBus):
    """The in-memory bus, remembering acknowledged entries."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.acked: list[str] = []

    async def ack_alerts(self, deliveries: Sequence[Delivery[Alert]]) -> None:
        self.acked += [d.entry_id for d in deliveries]


@asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


def _dispatcher(bus: MemoryBus, metrics: Metrics, *sinks: RecordingSink, **settings: Any) -> Dispatcher:
    cfg = AlertSettings(console=False, block_ms=50, drain_timeout_s=settings.pop("drain_timeout_s", 2.0), **settings)
    return Dispatcher(cfg, bus, metrics, consumer="t", sinks=[(s, FAST) for s in sinks])


async def test_every_sink_gets_every_alert_and_entries_are_acked_after_all(metrics: Metrics) -> None:
    bus = AckCountingBus(metrics=metrics)
    a, b = RecordingSink("a"), RecordingSink("b")
    dispatcher = _dispatcher(bus, metrics, a, b)
    async with running(dispatcher):
        for n in range(5):
            await bus.publish_alert(make_alert(n))
        await dispatcher.wait_acked(5, timeout=5)
    assert a.got == b.got == [f"alert-{n}" for n in range(5)]
    assert len(bus.acked) == 5
    assert (
        metrics.registry.get_sample_value("liqmon_alerts_delivered_total", {"sink": "a", "outcome": "delivered"}) == 5
    )


async def test_a_blocked_sink_delays_neither_the_others_nor_the_reader(metrics: Metrics) -> None:
    bus = AckCountingBus(metrics=metrics)
    gate = asyncio.Event()
    slow, fast = RecordingSink("slow", gate=gate), RecordingSink("fast")
    dispatcher = _dispatcher(bus, metrics, slow, fast)
    async with running(dispatcher):
        for n in range(4):
            await bus.publish_alert(make_alert(n))
        await fast.wait_count(4)
        assert slow.got == []
        assert bus.acked == []
        assert metrics.registry.get_sample_value("liqmon_sink_queue_depth", {"sink": "slow"}) == 3
        gate.set()
        await dispatcher.wait_acked(4, timeout=5)
    assert slow.got == fast.got


async def test_full_queue_dead_letters_for_that_sink_only(metrics: Metrics) -> None:
    bus = AckCountingBus(metrics=metrics)
    gate = asyncio.Event()
    slow, fast = RecordingSink("slow", gate=gate), RecordingSink("fast")
    dispatcher = _dispatcher(bus, metrics, slow, fast, queue_size=2)
    async with running(dispatcher):
        await bus.publish_alert(make_alert(0))
        await slow.entered.wait()  # alert-0 is in flight, the queue is empty
        for n in range(1, 6):  # one at a time, so only the blocked sink's queue fills up
            await bus.publish_alert(make_alert(n))
            await fast.wait_count(n + 1)
        gate.set()
        await dispatcher.wait_acked(6, timeout=5)
    assert fast.got == [f"alert-{n}" for n in range(6)]
    assert slow.got == ["alert-0", "alert-1", "alert-2"]
    assert [(a.id, s, r) for a, s, r in bus.dead_letters] == [
        (f"alert-{n}", "slow", "sink queue full") for n in (3, 4, 5)
    ]
    assert metrics.registry.get_sample_value("liqmon_alerts_dead_lettered_total", {"sink": "slow"}) == 3


async def test_same_alert_twice_is_delivered_once_per_sink(metrics: Metrics) -> None:
    bus = AckCountingBus(metrics=metrics)
    a = RecordingSink("a")
    dispatcher = _dispatcher(bus, metrics, a)
    async with running(dispatcher):
        await bus.publish_alert(make_alert(1))
        await bus.publish_alert(make_alert(1))
        await bus.publish_alert(make_alert(2))
        await dispatcher.wait_acked(3, timeout=5)
    assert a.got == ["alert-1", "alert-2"]
    assert (
        metrics.registry.get_sample_value("liqmon_alerts_delivered_total", {"sink": "a", "outcome": "duplicate"}) == 1
    )


async def test_min_severity_filters_without_blocking_the_ack(metrics: Metrics) -> None:
    bus = AckCountingBus(metrics=metrics)
    pager, log = RecordingSink("pager", min_severity="critical"), RecordingSink("log")
    dispatcher = _dispatcher(bus, metrics, pager, log)
    async with running(dispatcher):
        await bus.publish_alert(make_alert(1, severity="warning"))
        await bus.publish_alert(make_alert(2, severity="critical"))
        await dispatcher.wait_acked(2, timeout=5)
    assert pager.got == ["alert-2"]
    assert log.got == ["alert-1", "alert-2"]


async def test_a_crashing_sink_dead_letters_and_the_other_delivers(metrics: Metrics) -> None:
    bus = AckCountingBus(metrics=metrics)
    broken, ok = RecordingSink("broken", fail=KeyError("values")), RecordingSink("ok")
    dispatcher = _dispatcher(bus, metrics, broken, ok)
    async with running(dispatcher):
        await bus.publish_alert(make_alert(1))
        await dispatcher.wait_acked(1, timeout=5)
    assert ok.got == ["alert-1"]
    assert bus.dead_letters[0][1:] == ("broken", "sink error: KeyError: 'values'")


async def test_retries_exhausted_dead_letter_and_the_entry_is_acked(metrics: Metrics) -> None:
    bus = AckCountingBus(metrics=metrics)
    flaky = RecordingSink("flaky", fail=RetryableDelivery("HTTP 503"))
    policy = SinkPolicy(1000, 1000, RetrySettings(initial_s=0.01, max_s=0.01, give_up_after_s=0.05), 60)
    dispatcher = Dispatcher(
        AlertSettings(console=False, block_ms=50), bus, metrics, consumer="t", sinks=[(flaky, policy)]
    )
    async with running(dispatcher):
        await bus.publish_alert(make_alert(1))
        await dispatcher.wait_acked(1, timeout=5)
    assert bus.dead_letters[0][2].startswith("retries exhausted after")
    assert (
        metrics.registry.get_sample_value("liqmon_alerts_delivered_total", {"sink": "flaky", "outcome": "retried"}) >= 2
    )


async def test_stop_returns_within_the_drain_bound_and_leaves_undelivered_entries_unacked(metrics: Metrics) -> None:
    bus = AckCountingBus(metrics=metrics)
    stuck = RecordingSink("stuck", gate=asyncio.Event())
    dispatcher = _dispatcher(bus, metrics, stuck, drain_timeout_s=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    await bus.publish_alert(make_alert(1))
    await stuck.entered.wait()
    stop.set()
    async with asyncio.timeout(5):
        await task
    assert bus.acked == []
    assert dispatcher.inflight == 1
