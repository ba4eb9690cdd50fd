"""The alert dispatcher: alerts stream → every configured sink, concurrently.

The read loop takes alerts from the bus (``dispatch`` consumer group) and
hands each one to every sink's :class:`~monitor.alerts.worker.SinkWorker`
without waiting: a slow or dead sink only fills its own queue (when full,
its new alerts are dead-lettered and counted), so it never delays the other
sinks, the read loop, or the detectors upstream. A bus entry is acknowledged
once every sink has delivered it or given up on it; given-up deliveries are
written to the dead-letter stream first.

Guarantee: at-least-once per sink, de-duplicated by alert id through the
delivery markers of :mod:`monitor.alerts.ledger` — an alert is not sent twice
to a sink after a restart, a redelivery or a re-emission, and a dispatcher
killed at any moment loses nothing. A duplicate remains possible only if the
process dies in the instant between a sink accepting an alert and the marker
being written.

On stop, reading ends, each worker finishes the jobs it has queued (with
retries) until ``drain_timeout_s``, then what is left is cancelled and stays
pending on the bus for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from monitor.aio import sleep_or_stop
from monitor.alert import Alert
from monitor.alerts.base import Sink
from monitor.alerts.config import AlertSettings
from monitor.alerts.ledger import Ledger
from monitor.alerts.policy import backoff
from monitor.alerts.sinks import build_sinks
from monitor.alerts.worker import BUS_RETRY, SinkPolicy, SinkWorker, Tracker
from monitor.bus.base import Bus, Delivery
from monitor.errors import BusError
from monitor.logs import get_logger
from monitor.metrics import Metrics

log = get_logger(__name__)


class Dispatcher:
    """Reads alerts from the bus and fans them out to the sinks."""

    def __init__(
        self,
        settings: AlertSettings,
        bus: Bus,
        metrics: Metrics,
        *,
        consumer: str,
        sinks: Sequence[tuple[Sink, SinkPolicy]] | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.metrics = metrics
        self.consumer = consumer
        self._ledger = Ledger(bus, settings.dedup_ttl_s)
        pairs = build_sinks(settings) if sinks is None else list(sinks)
        names = [sink.name for sink, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique, got {names}")
        self.workers = [
            SinkWorker(
                sink,
                policy,
                bus=bus,
                ledger=self._ledger,
                metrics=metrics,
                queue_size=settings.queue_size,
                finished=self._finished,
            )
            for sink, policy in pairs
        ]
        self._inflight: dict[str, Tracker] = {}
        self.acked = 0
        self._progress = asyncio.Condition()

    @property
    def inflight(self) -> int:
        """Bus entries read but not yet acknowledged."""
        return len(self._inflight)

    async def wait_acked(self, count: int, timeout: float) -> None:
        """Wait until ``count`` entries have been acknowledged (TimeoutError after ``timeout`` s)."""
        async with asyncio.timeout(timeout), self._progress:
            await self._progress.wait_for(lambda: self.acked >= count)

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop``; then drain within ``drain_timeout_s`` and close the sinks."""
        if not self.workers:
            log.warning(
                "dispatcher_no_sinks",
                hint="alerts are acknowledged without delivery; enable alerts.console or configure a sink",
            )
        log.info("dispatcher_started", consumer=self.consumer, sinks=[w.name for w in self.workers])
        sink_stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                for worker in self.workers:
                    group.create_task(worker.sink.run(sink_stop), name=f"sink-{worker.name}")
                tasks = [group.create_task(w.run(), name=f"deliver-{w.name}") for w in self.workers]
                await self._read_loop(stop)
                for worker in self.workers:
                    worker.close_intake()
                pending: set[asyncio.Task[None]] = set()
                if tasks:
                    _, pending = await asyncio.wait(tasks, timeout=self.settings.drain_timeout_s)
                if pending:
                    log.warning(
                        "dispatcher_drain_deadline",
                        sinks=[t.get_name() for t in pending],
                        entries=len(self._inflight),
                        hint="undelivered alerts stay pending on the bus",
                    )
                    for task in pending:
                        task.cancel()
                sink_stop.set()
        finally:
            for worker in self.workers:
                with contextlib.suppress(Exception):
                    await worker.sink.aclose()
        log.info("dispatcher_stopped", acknowledged=self.acked, left_pending=len(self._inflight))

    async def _read_loop(self, stop: asyncio.Event) -> None:
        delays = backoff(BUS_RETRY)
        while not stop.is_set():
            try:
                batch = await self.bus.read_alerts(
                    self.consumer, count=self.settings.batch_size, block_ms=self.settings.block_ms
                )
            except BusError as exc:
                log.warning("alert_read_failed", error=str(exc), hint="retrying")
                await sleep_or_stop(stop, next(delays))
                continue
            delays = backoff(BUS_RETRY)
            for delivery in batch:
                await self._dispatch(delivery)

    async def _dispatch(self, delivery: Delivery[Alert]) -> None:
        if delivery.entry_id in self._inflight:  # re-read while still being delivered here
            return
        tracker = Tracker(delivery, remaining=len(self.workers))
        self._inflight[delivery.entry_id] = tracker
        if not self.workers:
            await self._ack(tracker)
            return
        for worker in self.workers:
            if not worker.offer(tracker):
                log.warning(
                    "sink_queue_full",
                    sink=worker.name,
                    alert_id=delivery.item.id,
                    queue_size=self.settings.queue_size,
                    hint="the alert is dead-lettered for this sink",
                )
                await worker.dead_letter(delivery.item, "sink queue full")
                await self._finished(tracker, worker.name, "gave_up")

    async def _finished(self, tracker: Tracker, sink: str, outcome: str) -> None:
        tracker.outcomes[sink] = outcome
        tracker.remaining -= 1
        if tracker.remaining == 0:
            await self._ack(tracker)

    async def _ack(self, tracker: Tracker) -> None:
        self._inflight.pop(tracker.delivery.entry_id, None)
        try:
            await self.bus.ack_alerts([tracker.delivery])
        except BusError as exc:  # the entry comes back later; its markers make it a no-op
            log.warning(
                "alert_ack_failed",
                entry_id=tracker.delivery.entry_id,
                error=str(exc),
                hint="the entry will be re-read and skipped",
            )
            return
        self.acked += 1
        async with self._progress:
            self._progress.notify_all()
