"""One sink's delivery loop: its own queue, rate limit, retries, breaker and dedup markers.

A :class:`SinkWorker` takes jobs in order from its bounded queue and ends each
one *delivered* or *given up* (dead-lettered), then tells the dispatcher, which
acknowledges a bus entry once every sink is done with it. A cancelled delivery
(shutdown deadline) ends neither way: the entry stays pending on the bus and
is delivered after the restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from monitor.alerts.base import RejectedAlert, Sink
from monitor.alerts.config import RetrySettings
from monitor.alerts.ledger import Ledger
from monitor.alerts.model import Alert, severity_rank
from monitor.alerts.policy import Breaker, TokenBucket, backoff, next_delay
from monitor.bus.base import Bus, Delivery
from monitor.errors import BusError, PermanentDelivery, RetryableDelivery
from monitor.logs import get_logger
from monitor.metrics import Metrics

log = get_logger(__name__)

T = TypeVar("T")

BUS_RETRY: Final = RetrySettings(initial_s=0.2, factor=2.0, max_s=5.0, give_up_after_s=1.0)


@dataclass
class Tracker:
    """A bus entry and how many sinks still have to finish it."""

    delivery: Delivery[Alert]
    remaining: int
    outcomes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SinkPolicy:
    """Rate limit, retry policy and probe interval of one sink."""

    rate_per_s: float
    burst: int
    retry: RetrySettings
    probe_interval_s: float


Finished = Callable[[Tracker, str, str], Awaitable[None]]


class SinkWorker:
    """Delivers alerts to one sink, one at a time, in queue order."""

    def __init__(
        self,
        sink: Sink,
        policy: SinkPolicy,
        *,
        bus: Bus,
        ledger: Ledger,
        metrics: Metrics,
        queue_size: int,
        finished: Finished,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self.policy = policy
        # Unbounded on purpose: the bound is enforced in offer(), so the stop sentinel always fits.
        self.queue: asyncio.Queue[Tracker | None] = asyncio.Queue()
        self._queue_size = queue_size
        self.breaker = Breaker(policy.probe_interval_s)
        self._bus = bus
        self._ledger = ledger
        self._metrics = metrics
        self._finished = finished
        self._clock = clock
        self._bucket = TokenBucket(policy.rate_per_s, policy.burst, clock())
        self.requests = 0
        metrics.sink_healthy.labels(sink=self.name).set(1)
        metrics.sink_queue.labels(sink=self.name).set(0)
        for outcome in ("delivered", "retried", "duplicate", "gave_up"):
            metrics.alerts_delivered.labels(sink=self.name, outcome=outcome)
        metrics.dead_letters.labels(sink=self.name)

    def offer(self, tracker: Tracker) -> bool:
        """Queue a job without waiting; False when the queue is full."""
        if self.queue.qsize() >= self._queue_size:
            return False
        self.queue.put_nowait(tracker)
        self._metrics.sink_queue.labels(sink=self.name).set(self.queue.qsize())
        return True

    def close_intake(self) -> None:
        """Finish what is queued, then stop (a sentinel behind the queued jobs)."""
        self.queue.put_nowait(None)

    async def run(self) -> None:
        """Deliver queued jobs until the sentinel from :meth:`close_intake`."""
        while True:
            tracker = await self.queue.get()
            self._metrics.sink_queue.labels(sink=self.name).set(self.queue.qsize())
            if tracker is None:
                return
            outcome, reason = await self.deliver(tracker.delivery.item)
            if outcome == "gave_up":  # recorded before the entry can be acknowledged
                await self.dead_letter(tracker.delivery.item, reason)
            await self._finished(tracker, self.name, outcome)

    async def dead_letter(self, alert: Alert, reason: str) -> None:
        """Record a given-up delivery on the bus (retrying while the bus is away)."""
        self._metrics.alerts_delivered.labels(sink=self.name, outcome="gave_up").inc()
        self._metrics.dead_letters.labels(sink=self.name).inc()
        await self._with_bus("dead_letter", lambda: self._bus.dead_letter(alert, self.name, reason))

    async def _with_bus(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        delays = backoff(BUS_RETRY)
        while True:
            try:
                return await call()
            except BusError as exc:
                log.warning("bus unavailable during delivery; retrying", sink=self.name, action=what, error=str(exc))
                await asyncio.sleep(next(delays))

    async def deliver(self, alert: Alert) -> tuple[str, str]:
        """Deliver one alert: ``("delivered"|"duplicate"|"filtered"|"gave_up", reason)``."""
        if severity_rank(alert.severity) < severity_rank(self.sink.min_severity):
            return "filtered", ""
        if not self.breaker.allow(self._clock()):
            return "gave_up", f"sink broken: {self.breaker.reason}"
        ticket = await self._with_bus("claim", lambda: self._ledger.begin(self.name, alert.id))
        if not ticket.send:
            self._metrics.alerts_delivered.labels(sink=self.name, outcome="duplicate").inc()
            log.info("alert already delivered; not sending again", sink=self.name, alert_id=alert.id)
            return "duplicate", ""
        outcome, reason = await self._attempts(alert)
        if outcome == "delivered":
            await self._with_bus("mark", lambda: self._ledger.done(ticket))
        return outcome, reason

    async def _attempts(self, alert: Alert) -> tuple[str, str]:
        delays = backoff(self.policy.retry)
        started = self._clock()
        attempt = 0
        while True:
            wait = self._bucket.take(self._clock())
            if wait > 0:
                await asyncio.sleep(wait)
            attempt += 1
            self.requests += 1
            try:
                await self.sink.send(alert)
            except RetryableDelivery as exc:
                delay = next_delay(next(delays), exc.retry_after, self.policy.retry.max_s)
                if self._clock() - started + delay > self.policy.retry.give_up_after_s:
                    log.warning(
                        "giving up on alert after retries",
                        sink=self.name,
                        alert_id=alert.id,
                        attempts=attempt,
                        error=str(exc),
                    )
                    self.breaker.probe_failed(self._clock())
                    return "gave_up", f"retries exhausted after {attempt} attempts: {exc}"
                self._metrics.alerts_delivered.labels(sink=self.name, outcome="retried").inc()
                log.warning(
                    "delivery failed; retrying",
                    sink=self.name,
                    alert_id=alert.id,
                    attempt=attempt,
                    retry_in_s=round(delay, 3),
                    error=str(exc),
                )
                await asyncio.sleep(delay)
            except RejectedAlert as exc:
                log.error(
                    "sink rejected the alert; dead-lettered (a payload bug, please report it)",
                    sink=self.name,
                    alert_id=alert.id,
                    error=str(exc),
                )
                return "gave_up", f"rejected: {exc}"
            except PermanentDelivery as exc:
                if self.breaker.trip(str(exc), self._clock()):
                    self._metrics.sink_healthy.labels(sink=self.name).set(0)
                    log.error(
                        "sink is broken; its alerts are dead-lettered until it works again",
                        sink=self.name,
                        error=str(exc),
                        probe_every_s=self.policy.probe_interval_s,
                    )
                return "gave_up", f"sink broken: {exc}"
            except Exception as exc:  # a bug in a sink must not stop the others or loop
                log.error(
                    "sink failed unexpectedly; alert dead-lettered",
                    sink=self.name,
                    alert_id=alert.id,
                    error=f"{type(exc).__name__}: {exc}",
                    exc_info=exc,
                )
                return "gave_up", f"sink error: {type(exc).__name__}: {exc}"
            else:
                if self.breaker.success():
                    self._metrics.sink_healthy.labels(sink=self.name).set(1)
                    log.info("sink works again", sink=self.name)
                self._metrics.alerts_delivered.labels(sink=self.name, outcome="delivered").inc()
                self._metrics.delivery_latency.labels(sink=self.name).observe(
                    max(0.0, time.time() - alert.ts_ms / 1000)
                )
                return "delivered", ""
