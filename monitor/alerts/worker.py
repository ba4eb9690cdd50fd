"""One sink's delivery: its own queue, concurrency, rate limit, outage clock, breaker and dedup markers.

A :class:`SinkWorker` takes jobs in order from its queue and runs up to
``concurrency`` deliveries at once; alerts of one episode (kind, asset, venue,
direction) go strictly one after the other, so a ``resolved`` never overtakes
its ``firing``. Each job ends *delivered* or *given up* (dead-lettered) and
tells the dispatcher, which acknowledges a bus entry once every sink is done
with it. A cancelled delivery (shutdown deadline) ends neither way: the entry
stays pending on the bus and is delivered after the restart.

Failures are handled per sink, not per alert (:class:`~monitor.alerts.policy.Outage`):
the first retryable failure (timeout, 5xx, 429) starts an outage during which
one probe at a time goes out and every other alert waits; the first success
releases them all. So a hung endpoint costs later alerts one bounded wait
(read timeout + backoff), never one timeout each in sequence, and a 429 with
``retry_after`` pauses the whole sink, as Telegram and Discord require. When
the outage outlasts ``retry.give_up_after_s`` the waiting alerts are
dead-lettered together at the next failed probe. Refusals that retrying cannot fix (401/403, revoked
webhooks, MQTT not-authorized) open the breaker: the sink is marked broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from monitor.alert import Alert, EpisodeKey, episode_key, severity_rank
from monitor.alerts.base import RejectedAlert, Sink
from monitor.alerts.config import RetrySettings
from monitor.alerts.ledger import Ledger
from monitor.alerts.policy import Admission, Breaker, Outage, TokenBucket, backoff, next_delay
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
    # Deliveries in flight at once (alerts of one episode still go one after the other).
    concurrency: int = 1

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"sink concurrency must be at least 1, got {self.concurrency}")


Finished = Callable[[Tracker, str, str], Awaitable[None]]


class SinkWorker:
    """Delivers alerts to one sink: bounded concurrency, in order per episode."""

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
        self._backlog = 0  # jobs offered and not finished (queued, waiting or sending)
        self.breaker = Breaker(policy.probe_interval_s)
        self.outage = Outage(policy.retry.give_up_after_s)
        self._delays = backoff(policy.retry)
        self._changed = asyncio.Condition()
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._lanes: dict[EpisodeKey, asyncio.Task[None]] = {}
        self._bus = bus
        self._ledger = ledger
        self._metrics = metrics
        self._finished = finished
        self._clock = clock
        self._bucket = TokenBucket(policy.rate_per_s, policy.burst, clock())
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        metrics.sink_healthy.labels(sink=self.name).set(1)
        metrics.sink_queue.labels(sink=self.name).set(0)
        for outcome in ("delivered", "retried", "duplicate", "gave_up"):
            metrics.alerts_delivered.labels(sink=self.name, outcome=outcome)
        metrics.dead_letters.labels(sink=self.name)

    @property
    def waiting(self) -> int:
        """Alerts offered to this sink and not being sent or finished yet."""
        return self._backlog - self.in_flight

    def _gauge(self) -> None:
        self._metrics.sink_queue.labels(sink=self.name).set(self.waiting)

    def offer(self, tracker: Tracker) -> bool:
        """Queue a job without waiting; False when ``queue_size`` alerts already wait for this sink."""
        if self.waiting >= self._queue_size:
            return False
        self._backlog += 1
        self.queue.put_nowait(tracker)
        self._gauge()
        return True

    def close_intake(self) -> None:
        """Finish what is queued, then stop (a sentinel behind the queued jobs)."""
        self.queue.put_nowait(None)

    async def run(self) -> None:
        """Start a job per queued alert (chained behind its episode's previous one) until the sentinel."""
        async with asyncio.TaskGroup() as group:
            while True:
                tracker = await self.queue.get()
                if tracker is None:
                    return
                key = episode_key(tracker.delivery.item)
                task = group.create_task(self._job(tracker, self._lanes.get(key)))
                self._lanes[key] = task
                task.add_done_callback(functools.partial(self._lane_done, key))

    def _lane_done(self, key: EpisodeKey, task: asyncio.Task[None]) -> None:
        if self._lanes.get(key) is task:
            del self._lanes[key]

    async def _job(self, tracker: Tracker, before: asyncio.Task[None] | None) -> None:
        try:
            if before is not None:  # the episode's previous alert goes first
                await asyncio.wait([before])
            outcome, reason = await self.deliver(tracker.delivery.item)
            if outcome == "gave_up":  # recorded before the entry can be acknowledged
                await self.dead_letter(tracker.delivery.item, reason)
            await self._finished(tracker, self.name, outcome)
        finally:
            self._backlog -= 1
            self._gauge()

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
                log.warning("alert_delivery_bus_failed", sink=self.name, action=what, error=str(exc), hint="retrying")
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
            log.info("alert_already_delivered", sink=self.name, alert_id=alert.id)
            return "duplicate", ""
        outcome, reason = await self._attempts(alert)
        if outcome == "delivered":
            await self._with_bus("mark", lambda: self._ledger.done(ticket))
        return outcome, reason

    async def _admission(self, seen: int) -> Admission:
        """Wait until this job may send (``go``/``probe``) or must give up."""
        async with self._changed:
            while True:
                now = self._clock()
                admission = self.outage.admit(now, seen)
                if admission != "wait":
                    return admission
                wake = self.outage.wake_at()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), None if wake is None else max(0.0, wake - now))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _attempts(self, alert: Alert) -> tuple[str, str]:
        attempt = 0
        seen = self.outage.failures
        while True:
            admission = await self._admission(seen)
            if admission == "give_up":
                lasted = self._clock() - (self.outage.since or self._clock())
                log.warning(
                    "alert_given_up",
                    sink=self.name,
                    alert_id=alert.id,
                    attempts=attempt,
                    failing_for_s=round(lasted, 1),
                    error=self.outage.last_error,
                    hint="the sink has been failing too long; the alert is dead-lettered",
                )
                return "gave_up", (
                    f"retries exhausted after {attempt} attempts; sink failing for {lasted:.0f}s: "
                    f"{self.outage.last_error}"
                )
            probe = admission == "probe"
            if not self.breaker.allow(self._clock()):  # the sink broke while this job waited
                if probe:
                    self.outage.abandon_probe()
                    await self._notify()
                return "gave_up", f"sink broken: {self.breaker.reason}"
            ended = False
            result: tuple[str, str] | None = None
            try:
                async with self._slots:
                    if probe or not self.outage.down:  # an outage that began while this job queued: wait
                        wait = self._bucket.take(self._clock())
                        if wait > 0:
                            await asyncio.sleep(wait)
                        attempt += 1
                        self.requests += 1
                        result = await self._attempt(alert, probe, attempt)
                ended = True
            finally:
                if probe and not ended:  # cancelled mid-probe: let another job probe
                    self.outage.abandon_probe()
                    await self._notify()
            if result is not None:
                return result

    async def _attempt(self, alert: Alert, probe: bool, attempt: int) -> tuple[str, str] | None:
        """One send; the job's outcome, or None to go round again (after the outage clock says so)."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self._gauge()
        try:
            await self.sink.send(alert)
        except RetryableDelivery as exc:
            delay = next_delay(next(self._delays), exc.retry_after, self.policy.retry.max_s)
            if self.outage.failed(self._clock(), delay, str(exc), probe=probe):
                self._metrics.sink_healthy.labels(sink=self.name).set(0)
                log.warning(
                    "sink_failing",
                    sink=self.name,
                    error=str(exc),
                    give_up_after_s=self.policy.retry.give_up_after_s,
                    hint="its alerts wait and go out when it answers again",
                )
            if self.breaker.state != "closed":
                self.breaker.probe_failed(self._clock())
            self._metrics.alerts_delivered.labels(sink=self.name, outcome="retried").inc()
            log.info(
                "alert_delivery_retry",
                sink=self.name,
                alert_id=alert.id,
                attempt=attempt,
                retry_in_s=round(delay, 3),
                error=str(exc),
            )
            await self._notify()
            return None
        except RejectedAlert as exc:
            log.error(
                "sink_rejected_alert",
                sink=self.name,
                alert_id=alert.id,
                error=str(exc),
                hint="the alert is dead-lettered; a payload bug, please report it",
            )
            result = ("gave_up", f"rejected: {exc}")
        except PermanentDelivery as exc:
            if self.breaker.trip(str(exc), self._clock()):
                self._metrics.sink_healthy.labels(sink=self.name).set(0)
                log.error(
                    "sink_broken",
                    sink=self.name,
                    error=str(exc),
                    probe_every_s=self.policy.probe_interval_s,
                    hint="its alerts are dead-lettered until it works again",
                )
            result = ("gave_up", f"sink broken: {exc}")
        except Exception as exc:  # a bug in a sink must not stop the others or loop
            log.error(
                "sink_failed_unexpectedly",
                sink=self.name,
                alert_id=alert.id,
                hint="the alert is dead-lettered",
                error=f"{type(exc).__name__}: {exc}",
                exc_info=exc,
            )
            result = ("gave_up", f"sink error: {type(exc).__name__}: {exc}")
        else:
            lasted = self.outage.succeeded(self._clock())
            if lasted is not None:
                self._delays = backoff(self.policy.retry)
                log.info("sink_recovered", sink=self.name, outage_s=round(lasted, 1), hint="waiting alerts go out")
            if self.breaker.success():
                log.info("sink_healed", sink=self.name)
            self._metrics.sink_healthy.labels(sink=self.name).set(1)
            self._metrics.alerts_delivered.labels(sink=self.name, outcome="delivered").inc()
            self._metrics.delivery_latency.labels(sink=self.name).observe(max(0.0, time.time() - alert.ts_ms / 1000))
            await self._notify()
            return "delivered", ""
        finally:
            self.in_flight -= 1
            self._gauge()
        if probe:  # the probe got an answer that says nothing about the outage: another job probes
            self.outage.abandon_probe()
            await self._notify()
        return result
