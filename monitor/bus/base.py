"""The bus interface shared by the in-memory and Redis Streams implementations.

Producers call :meth:`Bus.publish` (never blocks; buffered and flushed by
:meth:`Bus.run`). Events travel in :class:`EventEntry` batches — one entry per
shard batch, in publish order — and consumers acknowledge whole entries once
handled; until then an entry stays pending and is redelivered after a crash
(at-least-once). Alerts travel one per :class:`Delivery`. Events are sharded
by a stable hash of ``base``.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar

from monitor.alert import Alert
from monitor.events import Event, Gap
from monitor.logs import Throttle

T = TypeVar("T")

# Bounds of one events entry (DESIGN §5): a few hundred events or 64 KiB, whichever comes first.
ENTRY_MAX_EVENTS: Final = 256
ENTRY_MAX_BYTES: Final = 64 * 1024


def shard_of(base: str, shard_count: int) -> int:
    """Stable shard of an asset: CRC-32 of its name modulo ``shard_count``."""
    return zlib.crc32(base.encode()) % shard_count


def target_shards(event: Event, shard_count: int) -> Sequence[int]:
    """Shards an event goes to: its asset's shard; a gap goes to its assets' shards, or all when empty."""
    if isinstance(event, Gap):
        if not event.bases:
            return range(shard_count)
        return sorted({shard_of(b, shard_count) for b in event.bases})
    return (shard_of(event.base, shard_count),)


@dataclass(frozen=True, slots=True)
class EventEntry:
    """One events entry read from a shard: a batch of its events in publish order, acknowledged as a whole.

    ``deliveries`` is Redis's delivery counter (1 for a first delivery).
    """

    shard: int
    entry_id: str
    events: Sequence[Event]
    deliveries: int = 1


@dataclass(frozen=True, slots=True)
class Delivery(Generic[T]):
    """One alerts entry read from the bus. ``shard`` is -1 for the alerts stream."""

    shard: int
    entry_id: str
    item: T
    deliveries: int = 1


class EventPublisher(Protocol):
    """Writing to the bus: events (buffered, never blocking), alerts and dead letters (awaited)."""

    def publish(self, events: Sequence[Event]) -> None:
        """Queue events for publication; never blocks. Overflow is counted, never silent."""

    def backlog(self) -> int:
        """Events accepted by :meth:`publish` and not yet handed on (read, or written to Redis)."""

    async def flush(self, timeout: float) -> bool:
        """Write everything buffered; True when the buffer is empty within ``timeout`` seconds."""

    async def publish_alert(self, alert: Alert) -> None:
        """Append an alert to the alerts stream (awaits the write)."""

    async def dead_letter(self, alert: Alert, sink: str, reason: str) -> None:
        """Record an alert a sink gave up on, with the reason."""


class EventConsumer(Protocol):
    """Reading from the bus: event entries per shard and alerts, acknowledged once handled."""

    async def read_events(self, shards: Sequence[int], consumer: str, *, count: int, block_ms: int) -> list[EventEntry]:
        """Up to ``count`` next entries per shard for ``consumer`` (own pending entries first)."""

    async def ack_events(self, entries: Sequence[EventEntry]) -> None:
        """Acknowledge handled entries."""

    async def read_alerts(self, consumer: str, *, count: int, block_ms: int) -> list[Delivery[Alert]]:
        """Next alerts for the dispatcher ``consumer``."""

    async def ack_alerts(self, deliveries: Sequence[Delivery[Alert]]) -> None:
        """Acknowledge dispatched alerts."""

    async def adopt_pending(self, shard: int, consumer: str) -> set[str]:
        """Make ``consumer`` the owner of every entry of ``shard`` still pending with other consumers.

        Called when taking a shard over under its lease (the previous owner is gone):
        entries it read but never acknowledged come back first, in order, at the next
        :meth:`read_events`. Returns their entry ids.
        """

    async def read_history(self, shard: int, after_id: str, count: int) -> list[EventEntry]:
        """Up to ``count`` retained entries of a shard after entry ``after_id``, oldest first.

        ``after_id`` is ``"0"`` for the start of retention, or the ``entry_id`` of
        the last entry of the previous page; an empty list means the end.
        Used to rebuild detector state when taking a shard over.
        """


class Coordinator(Protocol):
    """What processes sharing the work agree through: dedup markers, leases, group membership, checkpoints."""

    async def claim_once(self, key: str, ttl_ms: int) -> bool:
        """True the first time ``key`` is claimed within ``ttl_ms`` (dedup by alert id)."""

    async def acquire_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take or renew the lease ``name`` for ``owner``; False when someone else holds it."""

    async def release_lease(self, name: str, owner: str) -> None:
        """Give up a lease held by ``owner``."""

    async def lease_holders(self, names: Sequence[str]) -> list[str | None]:
        """Who holds each lease in ``names`` (None when free), in order."""

    async def announce(self, group: str, member: str, ttl_ms: int) -> list[str]:
        """Announce ``member`` as alive in ``group`` for ``ttl_ms``; the live members, sorted."""

    async def withdraw(self, group: str, member: str) -> None:
        """Remove ``member`` from ``group`` at once (a clean shutdown)."""

    async def store_checkpoint(self, lease: str, owner: str, data: bytes) -> bool:
        """Replace the checkpoint of the work ``lease`` guards if ``owner`` holds the lease (kept for the
        event retention); False, and nothing written, when it does not (the lease moved on)."""

    async def load_checkpoint(self, lease: str) -> bytes | None:
        """The checkpoint of the work ``lease`` guards, None when there is none."""


class Bus(EventPublisher, EventConsumer, Coordinator, Protocol):
    """What the collector, detector runner and dispatcher need from a bus: the three parts and a lifecycle."""

    shard_count: int
    # True when another process can take a shard over (history and checkpoints outlive this one).
    shared: bool

    async def connect(self) -> None:
        """Check that the backend answers and accepts the credentials (raises BusError subclasses)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Background work (flushing the publish buffer, reclaiming idle entries) until ``stop``."""

    async def ping(self) -> bool:
        """True when the bus backend is reachable (readiness)."""

    async def close(self) -> None:
        """Release connections. Idempotent."""


class OverflowLog:
    """Rate-limited warning for events dropped from a full buffer (one line per ``interval`` seconds)."""

    def __init__(self, logger: Any, what: str, *, interval: float = 10.0) -> None:
        self._logger = logger
        self._what = what
        self._throttle = Throttle(interval)
        self._dropped = 0

    def dropped(self, count: int, now: float) -> None:
        """Note ``count`` dropped events at monotonic time ``now``; log when the interval has passed."""
        self._dropped += count
        if self._throttle.allow("dropped", now) is not None:
            self._logger.warning(
                "bus_buffer_full",
                buffer=self._what,
                dropped=self._dropped,
                hint="the oldest events are dropped: consumers or Redis cannot keep up; see liqmon_bus_overflow_total",
            )
            self._dropped = 0
