"""The embedded in-memory bus: one process, no Redis.

Events are kept per shard in bounded deques; when a shard is full the oldest
entry is dropped and counted (``liqmon_bus_overflow_total``). Acknowledgement
is a no-op: nothing survives the process, which is the documented trade-off of
running without Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Iterable, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.alerts.model import Alert
from monitor.bus.base import Delivery, OverflowLog, target_shards
from monitor.bus.keys import ALERTS_GROUP, ALERTS_LABEL, EVENTS_GROUP, events_label
from monitor.events import Event
from monitor.logs import get_logger
from monitor.metrics import Metrics, default_metrics

log = get_logger(__name__)


class MemoryBus:
    """An asyncio bus inside one process, with the same interface as the Redis bus."""

    def __init__(self, *, shard_count: int = 1, max_events: int = 100_000, metrics: Metrics | None = None) -> None:
        if shard_count < 1:
            raise ValueError("shard_count must be at least 1")
        self.shard_count = shard_count
        self._metrics = metrics or default_metrics()
        self._max_events = max_events
        self._shards: list[deque[Delivery[Event]]] = [deque() for _ in range(shard_count)]
        self._alerts: deque[Delivery[Alert]] = deque()
        self._dead: list[tuple[Alert, str, str]] = []
        self._claims: dict[str, float] = {}
        self._leases: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._alert_changed = asyncio.Event()
        self._overflow_log = OverflowLog(log, "in-memory shard")

    async def connect(self) -> None:
        """Nothing to connect to."""

    async def run(self, stop: asyncio.Event) -> None:
        """Export the queue depths at scrape time until ``stop`` is set."""
        self._metrics.add_scrape_callback(self.collect)
        try:
            await stop.wait()
        finally:
            self._metrics.remove_scrape_callback(self.collect)

    def collect(self) -> Iterable[Metric]:
        """Scrape callback: the same stream gauges as the Redis bus, from the deque depths.

        Entries are removed when read, so nothing is ever pending and the lag of a
        stream is its length.
        """
        length = GaugeMetricFamily(
            "liqmon_bus_stream_length",
            "Entries retained in a bus stream (XLEN, refreshed every few seconds).",
            labels=["stream"],
        )
        pending = GaugeMetricFamily(
            "liqmon_bus_pending_entries",
            "Entries delivered to a consumer group but not yet acknowledged.",
            labels=["stream", "group"],
        )
        lag = GaugeMetricFamily(
            "liqmon_bus_lag_entries",
            "Entries in a stream not yet delivered to the consumer group.",
            labels=["stream", "group"],
        )
        streams = [(events_label(i), EVENTS_GROUP, len(q)) for i, q in enumerate(self._shards)]
        streams.append((ALERTS_LABEL, ALERTS_GROUP, len(self._alerts)))
        for stream, group, depth in streams:
            length.add_metric([stream], depth)
            pending.add_metric([stream, group], 0)
            lag.add_metric([stream, group], depth)
        return [length, pending, lag]

    def publish(self, events: Sequence[Event]) -> None:
        """Append events to their shards; drops (and counts) the oldest entry of a full shard."""
        if not events:
            return
        published = self._metrics.bus_published.labels(stream="events")
        dropped = 0
        for event in events:
            for shard in target_shards(event, self.shard_count):
                queue = self._shards[shard]
                if len(queue) >= self._max_events:
                    queue.popleft()
                    dropped += 1
                queue.append(Delivery(shard, f"{next(self._ids)}-0", event))
                published.inc()
        if dropped:
            self._metrics.bus_overflow.inc(dropped)
            self._overflow_log.dropped(dropped, time.monotonic())
        self._changed.set()

    async def flush(self, timeout: float) -> bool:
        """Always flushed: publication is immediate."""
        return True

    async def publish_alert(self, alert: Alert) -> None:
        """Append an alert for the dispatcher."""
        self._alerts.append(Delivery(-1, f"{next(self._ids)}-0", alert))
        self._metrics.bus_published.labels(stream="alerts").inc()
        self._alert_changed.set()

    async def read_events(
        self, shards: Sequence[int], consumer: str, *, count: int, block_ms: int
    ) -> list[Delivery[Event]]:
        """Pop up to ``count`` events from the given shards, waiting up to ``block_ms``."""
        batch = self._take(shards, count)
        if not batch and block_ms > 0:
            self._changed.clear()
            try:
                async with asyncio.timeout(block_ms / 1000):
                    await self._changed.wait()
            except TimeoutError:
                return []
            batch = self._take(shards, count)
        return batch

    def _take(self, shards: Sequence[int], count: int) -> list[Delivery[Event]]:
        batch: list[Delivery[Event]] = []
        for shard in shards:
            queue = self._shards[shard]
            while queue and len(batch) < count:
                batch.append(queue.popleft())
        if batch:
            self._metrics.bus_consumed.labels(stream="events").inc(len(batch))
        return batch

    async def ack_events(self, deliveries: Sequence[Delivery[Event]]) -> None:
        """Nothing to acknowledge in memory."""

    async def read_alerts(self, consumer: str, *, count: int, block_ms: int) -> list[Delivery[Alert]]:
        """Pop up to ``count`` alerts, waiting up to ``block_ms``."""
        if not self._alerts and block_ms > 0:
            self._alert_changed.clear()
            try:
                async with asyncio.timeout(block_ms / 1000):
                    await self._alert_changed.wait()
            except TimeoutError:
                return []
        batch = [self._alerts.popleft() for _ in range(min(count, len(self._alerts)))]
        if batch:
            self._metrics.bus_consumed.labels(stream="alerts").inc(len(batch))
        return batch

    async def ack_alerts(self, deliveries: Sequence[Delivery[Alert]]) -> None:
        """Nothing to acknowledge in memory."""

    async def dead_letter(self, alert: Alert, sink: str, reason: str) -> None:
        """Keep given-up deliveries for inspection (bounded to the last 1000)."""
        self._dead.append((alert, sink, reason))
        del self._dead[:-1000]

    @property
    def dead_letters(self) -> list[tuple[Alert, str, str]]:
        """Given-up deliveries as (alert, sink, reason)."""
        return list(self._dead)

    async def claim_once(self, key: str, ttl_ms: int) -> bool:
        """True the first time ``key`` is seen by this process (bounded to 100k keys)."""
        if key in self._claims:
            return False
        self._claims[key] = ttl_ms
        if len(self._claims) > 100_000:
            for old in list(itertools.islice(self._claims, 10_000)):
                del self._claims[old]
        return True

    async def acquire_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        """One process owns everything; the first owner keeps the lease."""
        holder = self._leases.setdefault(name, owner)
        return holder == owner

    async def release_lease(self, name: str, owner: str) -> None:
        """Drop the lease if ``owner`` holds it."""
        if self._leases.get(name) == owner:
            del self._leases[name]

    async def adopt_pending(self, shard: int, consumer: str) -> set[str]:
        """Nothing to adopt: one process reads everything, and popped events are not kept pending."""
        return set()

    async def read_history(self, shard: int, after_id: str, count: int) -> list[Delivery[Event]]:
        """No history is retained in memory."""
        return []

    async def ping(self) -> bool:
        """Always reachable."""
        return True

    def backlog(self) -> int:
        """Events published but not yet read (replay sources pause while this is high)."""
        return self.depth()

    def depth(self) -> int:
        """Events waiting in all shards (for metrics)."""
        return sum(len(q) for q in self._shards)

    async def close(self) -> None:
        """Nothing to release."""
