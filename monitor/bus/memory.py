"""The embedded in-memory bus: one process, no Redis.

Events are kept per shard in bounded deques of entries, batched as the Redis
bus batches them: what is published to a shard between two reads shares an
entry, at most ``ENTRY_MAX_EVENTS`` each (a reader that keeps up gets small
entries at once, one that falls behind gets full ones); when a shard holds more than ``max_events`` events
its oldest entries are dropped and their events counted
(``liqmon_bus_overflow_total``). Acknowledgement
is a no-op: nothing survives the process, which is the documented trade-off of
running without Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Iterable, Sequence

from prometheus_client.core import Metric

from monitor.alert import Alert
from monitor.bus.base import ENTRY_MAX_EVENTS, Delivery, EventEntry, OverflowLog, target_shards
from monitor.bus.keys import ALERTS_GROUP, ALERTS_LABEL, EVENTS_GROUP, events_label
from monitor.events import Event
from monitor.logs import get_logger
from monitor.metrics import Metrics, bus_stream_families, default_metrics

log = get_logger(__name__)


class MemoryBus:
    """An asyncio bus inside one process, with the same interface as the Redis bus."""

    def __init__(self, *, shard_count: int = 1, max_events: int = 100_000, metrics: Metrics | None = None) -> None:
        if shard_count < 1:
            raise ValueError("shard_count must be at least 1")
        self.shard_count = shard_count
        self.shared = False  # one process: no takeover, so detector checkpoints would be wasted work
        self._metrics = metrics or default_metrics()
        self._max_events = max_events
        self._shards: list[deque[EventEntry]] = [deque() for _ in range(shard_count)]
        self._depths = [0] * shard_count  # events per shard
        self._alerts: deque[Delivery[Alert]] = deque()
        self._dead: list[tuple[Alert, str, str]] = []
        self._claims: dict[str, float] = {}
        self._leases: dict[str, str] = {}
        self._checkpoints: dict[str, bytes] = {}
        self._members: dict[str, dict[str, float]] = {}  # group -> member -> monotonic expiry
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
        streams = [(events_label(i), EVENTS_GROUP, len(q)) for i, q in enumerate(self._shards)]
        streams.append((ALERTS_LABEL, ALERTS_GROUP, len(self._alerts)))
        return bus_stream_families(
            [(stream, depth) for stream, _, depth in streams],
            [(stream, group, 0, depth) for stream, group, depth in streams],
        )

    def publish(self, events: Sequence[Event]) -> None:
        """Append events to their shards as entries; drops (and counts) the oldest entries of a full shard."""
        if not events:
            return
        count = self.shard_count
        if count == 1:
            per_shard: dict[int, list[Event]] = {0: list(events)}
        else:
            per_shard = {}
            for event in events:
                for shard in target_shards(event, count):
                    batch = per_shard.get(shard)
                    if batch is None:
                        batch = per_shard[shard] = []
                    batch.append(event)
        dropped = 0
        published = 0
        for shard, batch in per_shard.items():
            queue = self._shards[shard]
            self._depths[shard] += len(batch)
            published += len(batch)
            first = 0
            tail = queue[-1].events if queue else None
            if isinstance(tail, list) and len(tail) < ENTRY_MAX_EVENTS:  # not read yet: it takes more
                first = ENTRY_MAX_EVENTS - len(tail)
                tail.extend(batch[:first])
            for start in range(first, len(batch), ENTRY_MAX_EVENTS):
                chunk = batch[start : start + ENTRY_MAX_EVENTS]
                queue.append(EventEntry(shard, f"{next(self._ids)}-0", chunk))
            excess = self._depths[shard] - self._max_events
            while excess > 0:  # drop the oldest events: whole entries, then the head of the next one
                oldest = queue[0]
                gone = min(excess, len(oldest.events))
                if gone == len(oldest.events):
                    queue.popleft()
                else:
                    queue[0] = EventEntry(shard, oldest.entry_id, oldest.events[gone:])
                self._depths[shard] -= gone
                dropped += gone
                excess -= gone
        self._metrics.bus_published.labels(stream="events").inc(published)
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

    async def read_events(self, shards: Sequence[int], consumer: str, *, count: int, block_ms: int) -> list[EventEntry]:
        """Pop up to ``count`` entries per shard from the given shards, waiting up to ``block_ms``."""
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

    def _take(self, shards: Sequence[int], count: int) -> list[EventEntry]:
        batch: list[EventEntry] = []
        events = 0
        for shard in shards:
            queue = self._shards[shard]
            for _ in range(min(count, len(queue))):
                entry = queue.popleft()
                self._depths[shard] -= len(entry.events)
                events += len(entry.events)
                batch.append(entry)
        if batch:
            self._metrics.bus_consumed.labels(stream="events").inc(events)
        return batch

    async def ack_events(self, entries: Sequence[EventEntry]) -> None:
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

    async def lease_holders(self, names: Sequence[str]) -> list[str | None]:
        """Who holds each lease (None when free)."""
        return [self._leases.get(name) for name in names]

    async def announce(self, group: str, member: str, ttl_ms: int) -> list[str]:
        """Note ``member`` alive for ``ttl_ms``; the members of ``group`` still alive, sorted."""
        now = time.monotonic()
        members = self._members.setdefault(group, {})
        members[member] = now + ttl_ms / 1000
        for name, until in list(members.items()):
            if until <= now:
                del members[name]
        return sorted(members)

    async def withdraw(self, group: str, member: str) -> None:
        """Forget ``member``."""
        self._members.get(group, {}).pop(member, None)

    async def store_checkpoint(self, lease: str, owner: str, data: bytes) -> bool:
        """Keep the checkpoint if ``owner`` holds ``lease`` (nothing survives the process: no takeover in memory)."""
        if self._leases.get(lease) != owner:
            return False
        self._checkpoints[lease] = data
        return True

    async def load_checkpoint(self, lease: str) -> bytes | None:
        """The checkpoint stored last."""
        return self._checkpoints.get(lease)

    async def adopt_pending(self, shard: int, consumer: str) -> set[str]:
        """Nothing to adopt: one process reads everything, and popped events are not kept pending."""
        return set()

    async def read_history(self, shard: int, after_id: str, count: int) -> list[EventEntry]:
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
        return sum(self._depths)

    async def close(self) -> None:
        """Nothing to release."""
