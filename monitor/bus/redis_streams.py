"""The Redis Streams bus (DESIGN §5): sharded event streams, an alerts stream, leases.

:class:`RedisStreamsBus` is the :class:`~monitor.bus.base.Bus` made of four
parts sharing one :class:`~monitor.bus.redis_link.RedisLink`: the
:class:`~monitor.bus.redis_publisher.Publisher` (bounded buffer written as
batched entries), the :class:`~monitor.bus.redis_consumer.Consumer` (consumer
groups, own pending entries first, claims), the
:class:`~monitor.bus.redis_leases.Leases` (dedup markers, leases, members) and
the :class:`~monitor.bus.redis_stats.Stats` (stream figures for Prometheus).
:meth:`RedisStreamsBus.run` runs their background work. Delivery is
at-least-once with per-shard order; see ``docs/bus.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.core import Metric

from monitor.alert import Alert
from monitor.bus.base import Coordinator, Delivery, EventConsumer, EventEntry, EventPublisher
from monitor.bus.redis_consumer import Consumer
from monitor.bus.redis_leases import Leases
from monitor.bus.redis_link import RedisLink
from monitor.bus.redis_publisher import Publisher
from monitor.bus.redis_stats import Stats
from monitor.errors import BusError
from monitor.events import Event
from monitor.metrics import Metrics, default_metrics
from monitor.settings import BusSettings

_STOP_GRACE_S = 3.0

# Each part satisfies its narrow protocol (checked by mypy); the bus is their sum plus a lifecycle.
_PARTS: tuple[type[EventPublisher], type[EventConsumer], type[Coordinator]] = (Publisher, Consumer, Leases)


class RedisStreamsBus:
    """The :class:`~monitor.bus.base.Bus` over Redis Streams and consumer groups."""

    def __init__(
        self,
        settings: BusSettings,
        metrics: Metrics | None = None,
        *,
        client: Any = None,
        max_backoff_s: float = 5.0,
        stats_interval_s: float = 5.0,
        janitor_interval_s: float | None = None,
    ) -> None:
        self.shard_count = settings.shard_count
        self.shared = True
        self._link = RedisLink(settings, metrics or default_metrics(), client)
        self.publisher = Publisher(self._link, max_backoff_s=max_backoff_s)
        self.consumer = Consumer(self._link, janitor_interval_s=janitor_interval_s)
        self.leases = Leases(self._link)
        self.stats = Stats(self._link, interval_s=stats_interval_s)
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Check that Redis answers and accepts our credentials; raises BusError/BusUnavailable."""
        await self._link.call("PING", self._link.r.ping())

    async def run(self, stop: asyncio.Event) -> None:
        """Flush the publish buffer, claim idle entries and refresh stream stats until ``stop``.

        A bug in a background task ends ``run`` with that exception; Redis outages
        do not (they are logged, counted and retried). Call :meth:`flush` after
        ``run`` returns to write what is still buffered.
        """
        metrics = self._link.metrics
        metrics.add_scrape_callback(self.stats.collect)
        self._link.stopping.clear()
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(self.publisher.run_flusher(), name="bus-flush"),
            asyncio.create_task(self.consumer.run_janitor(), name="bus-janitor"),
            asyncio.create_task(self.stats.run_refresher(), name="bus-stats"),
        ]
        stopper: asyncio.Task[Any] = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                error = task.exception() if task.done() else None
                if error is not None:
                    raise error
        finally:
            # Let each task finish the command it is in (cancelling redis-py mid-command can
            # leak its connection), then cancel whatever is still stuck.
            self._link.stopping.set()
            self.publisher.wake()
            stopper.cancel()
            _, stuck = await asyncio.wait(tasks, timeout=_STOP_GRACE_S)
            for task in (stopper, *stuck):
                task.cancel()
            await asyncio.gather(stopper, *tasks, return_exceptions=True)
            metrics.remove_scrape_callback(self.stats.collect)

    async def close(self) -> None:
        """Close the connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._link.r.aclose()

    async def ping(self) -> bool:
        """True when Redis answers PING."""
        try:
            await self._link.call("PING", self._link.r.ping())
        except BusError:
            return False
        return True

    # ------------------------------------------------------------------ publishing

    def publish(self, events: Sequence[Event]) -> None:
        """Buffer events for the flusher (never blocks; overflow drops the oldest, counted)."""
        self.publisher.publish(events)

    def backlog(self) -> int:
        """Events buffered in memory, not yet written to Redis."""
        return self.publisher.backlog()

    async def flush(self, timeout: float) -> bool:
        """Write everything buffered; True when the buffer is empty within ``timeout`` seconds."""
        return await self.publisher.flush(timeout)

    async def publish_alert(self, alert: Alert) -> None:
        """Append an alert to the alerts stream; raises BusUnavailable while Redis is down."""
        await self.publisher.publish_alert(alert)

    async def dead_letter(self, alert: Alert, sink: str, reason: str) -> None:
        """Record a delivery a sink gave up on."""
        await self.publisher.dead_letter(alert, sink, reason)

    # ------------------------------------------------------------------ consuming

    async def read_events(self, shards: Sequence[int], consumer: str, *, count: int, block_ms: int) -> list[EventEntry]:
        """Next entries of ``shards`` for ``consumer`` (up to ``count`` per shard), own pending entries first."""
        return await self.consumer.read_events(shards, consumer, count=count, block_ms=block_ms)

    async def ack_events(self, entries: Sequence[EventEntry]) -> None:
        """Acknowledge handled entries."""
        await self.consumer.ack_events(entries)

    async def read_alerts(self, consumer: str, *, count: int, block_ms: int) -> list[Delivery[Alert]]:
        """Next alerts for the dispatcher ``consumer`` (own pending entries first)."""
        return await self.consumer.read_alerts(consumer, count=count, block_ms=block_ms)

    async def ack_alerts(self, deliveries: Sequence[Delivery[Alert]]) -> None:
        """Acknowledge dispatched alerts."""
        await self.consumer.ack_alerts(deliveries)

    async def read_history(self, shard: int, after_id: str, count: int) -> list[EventEntry]:
        """Up to ``count`` retained entries of ``shard`` after ``after_id``."""
        return await self.consumer.read_history(shard, after_id, count)

    async def adopt_pending(self, shard: int, consumer: str) -> set[str]:
        """Make ``consumer`` the owner of every entry of ``shard`` still pending with others."""
        return await self.consumer.adopt_pending(shard, consumer)

    async def claim_idle(self) -> int:
        """Claim entries idle longer than ``claim_idle_ms`` on the streams read here; returns how many."""
        return await self.consumer.claim_idle()

    # ------------------------------------------------------------------ stats

    async def refresh_stats(self) -> None:
        """Read the stream figures now (the background task does it every few seconds)."""
        await self.stats.refresh_stats()

    def collect(self) -> Iterable[Metric]:
        """The cached stream figures as gauges."""
        return self.stats.collect()

    # ------------------------------------------------------------------ coordination

    async def claim_once(self, key: str, ttl_ms: int) -> bool:
        """True the first time ``key`` is claimed within ``ttl_ms``."""
        return await self.leases.claim_once(key, ttl_ms)

    async def acquire_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take or renew the lease ``name`` for ``owner``."""
        return await self.leases.acquire_lease(name, owner, ttl_ms)

    async def release_lease(self, name: str, owner: str) -> None:
        """Give up a lease ``owner`` holds."""
        await self.leases.release_lease(name, owner)

    async def lease_holders(self, names: Sequence[str]) -> list[str | None]:
        """Who holds each lease (None when free)."""
        return await self.leases.lease_holders(names)

    async def announce(self, group: str, member: str, ttl_ms: int) -> list[str]:
        """Announce ``member`` alive in ``group``; the live members, sorted."""
        return await self.leases.announce(group, member, ttl_ms)

    async def withdraw(self, group: str, member: str) -> None:
        """Remove ``member`` from ``group`` at once."""
        await self.leases.withdraw(group, member)

    async def store_checkpoint(self, lease: str, owner: str, data: bytes) -> bool:
        """Replace the checkpoint of ``lease``'s work if ``owner`` holds the lease (False when it does not)."""
        return await self.leases.store_checkpoint(lease, owner, data)

    async def load_checkpoint(self, lease: str) -> bytes | None:
        """The checkpoint of ``lease``'s work (None when there is none)."""
        return await self.leases.load_checkpoint(lease)
