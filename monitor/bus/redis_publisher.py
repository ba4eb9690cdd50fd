"""The publishing part of the Redis bus: a bounded buffer written out as batched entries.

:meth:`Publisher.publish` only appends to the buffer; :meth:`Publisher.run_flusher`
writes it after a short linger (``bus.linger_ms``) as one XADD per shard batch of
at most ``ENTRY_MAX_EVENTS`` events or ``ENTRY_MAX_BYTES`` (fields ``n`` and
``data``, trimmed with ``MINID ~``), keeps it while Redis is unreachable and
retries with capped, jittered backoff. Alerts and dead letters are written at
once (awaited).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import groupby
from operator import attrgetter, itemgetter

from monitor.alert import Alert, encode_alert
from monitor.bus.base import ENTRY_MAX_BYTES, ENTRY_MAX_EVENTS, OverflowLog, shard_of, target_shards
from monitor.bus.codec import pack
from monitor.bus.keys import FIELD_COUNT, FIELD_DATA, FIELD_KIND, FIELD_REASON, FIELD_SINK
from monitor.bus.redis_link import RedisLink, Room, backoff
from monitor.errors import BusError
from monitor.events import Event, Gap
from monitor.logs import get_logger

log = get_logger(__name__)

DEAD_LETTER_MAXLEN = 100_000

_BASE = attrgetter("base")
_SHARD = itemgetter(0)
_EVENT = itemgetter(1)

# A run: consecutive events of one shard, in publish order.
Run = tuple[int, list[Event]]

# Append an alert unless one with its id was appended within the retention: a marker per alert id,
# set in the same script, so a new owner re-raising the alerts its predecessor published but had not
# acknowledged the events of does not put them in the stream twice.
_PUBLISH_ALERT = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[2], '*', ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
"""


class Publisher(Room):
    """Events into the shard streams (buffered, batched); alerts and dead letters (awaited)."""

    def __init__(self, link: RedisLink, *, max_backoff_s: float) -> None:
        super().__init__(link)
        self.shard_count = link.settings.shard_count
        self._max_backoff = max_backoff_s
        # Publish buffer: runs of events in publish order, ``_buffered`` events in all (a gap once per
        # shard it goes to); bounded by settings.buffer_max_events.
        self._buffer: deque[Run] = deque()
        self._buffered = 0
        count = self.shard_count
        # An asset's shard by the base as events spell it.
        self._shard_of: Callable[[str], int] = functools.cache(lambda base: shard_of(base, count))
        self._in_flight = 0  # events of the batch being written (out of the buffer until it fails)
        self._linger_s = link.settings.linger_ms / 1000
        # Read at scrape time, not set per publish: buffered plus the batch being written.
        self._metrics.bus_buffered.set_function(lambda: self._buffered + self._in_flight)
        self._wakeup = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._overflow_log = OverflowLog(log, "redis publish buffer")
        self._publish_alert = self._r.register_script(_PUBLISH_ALERT)

    def wake(self) -> None:
        """Wake the flusher (to notice that the bus is stopping)."""
        self._wakeup.set()

    async def run_flusher(self) -> None:
        """Write the buffer out until the link is stopping."""
        await self._flush_loop()

    def publish(self, events: Sequence[Event]) -> None:
        """Buffer events for the flusher; when the buffer is full the oldest are dropped and counted."""
        if not events:
            return
        runs = self._runs(events)
        self._buffer.extend(runs)
        self._buffered += sum(len(run) for _, run in runs)
        self._trim()
        self._wakeup.set()

    def _runs(self, events: Sequence[Event]) -> list[Run]:
        """The events as runs of one shard each, in order; a gap is in a run of each shard it goes to.

        Bases are looked up in C, a distinct base once: a chunk whose assets share a shard (the usual
        case) is one run, without a step per event in Python.
        """
        if Gap in map(type, events):
            pairs: Iterator[tuple[int, Event]] = (
                (shard, event) for event in events for shard in target_shards(event, self.shard_count)
            )
        else:
            shards = set(map(self._shard_of, set(map(_BASE, events))))
            if len(shards) == 1:
                return [(shards.pop(), list(events))]
            pairs = zip(map(self._shard_of, map(_BASE, events)), events, strict=True)
        return [(shard, list(map(_EVENT, run))) for shard, run in groupby(pairs, _SHARD)]

    def _trim(self) -> None:
        """Drop the oldest events beyond ``buffer_max_events`` (counted and logged)."""
        excess = self._buffered - self._settings.buffer_max_events
        if excess <= 0:
            return
        self._buffered -= excess
        self._dropped(excess)
        buffer = self._buffer
        while excess:
            shard, run = buffer[0]
            if len(run) > excess:
                buffer[0] = (shard, run[excess:])
                return
            buffer.popleft()
            excess -= len(run)

    def _dropped(self, count: int) -> None:
        self._metrics.bus_overflow.inc(count)
        self._overflow_log.dropped(count, time.monotonic())

    def _take(self, size: int) -> list[Run]:
        """The oldest runs of the buffer, ``size`` events in all (the last run cut to fit), removed from it."""
        buffer = self._buffer
        taken: list[Run] = []
        while size and buffer:
            shard, run = buffer.popleft()
            if len(run) > size:
                buffer.appendleft((shard, run[size:]))
                run = run[:size]
            taken.append((shard, run))
            size -= len(run)
        return taken

    def _requeue(self, batch: list[Run], size: int) -> None:
        """Put an unwritten batch back in front, keeping order; trim the oldest beyond the bound."""
        self._buffer.extendleft(reversed(batch))
        self._buffered += size
        self._trim()

    async def _write_batch(self) -> int:
        """Write up to ``batch_size`` buffered events as one entry per shard batch (pipelined); returns how many.

        Per shard the events keep their order and are cut into entries of at most
        ``ENTRY_MAX_EVENTS`` events and ``ENTRY_MAX_BYTES``. A failed write puts the
        whole batch back in front of the buffer; a write whose reply was lost may
        be written twice, which the consumers' dedup by event id absorbs.
        """
        async with self._write_lock:
            size = min(self._settings.batch_size, self._buffered)
            if size == 0:
                return 0
            batch = self._take(size)
            self._buffered -= size
            self._in_flight = size
            written = False
            started = time.perf_counter()
            try:
                per_shard: dict[int, list[Event]] = {}
                for shard, run in batch:
                    per_shard.setdefault(shard, []).extend(run)
                minid = self._minid()
                async with self._r.pipeline(transaction=False) as pipe:
                    for shard, events in per_shard.items():
                        key = self._event_keys[shard]
                        for n, data in pack(events, ENTRY_MAX_EVENTS, ENTRY_MAX_BYTES):
                            pipe.xadd(key, {FIELD_COUNT: n, FIELD_DATA: data}, minid=minid, approximate=True)
                    await self._call("XADD events", pipe.execute())
                written = True
            finally:
                self._in_flight = 0
                if not written:
                    self._requeue(batch, size)
        self._metrics.bus_write_seconds.observe(time.perf_counter() - started)
        self._metrics.bus_published.labels(stream="events").inc(size)
        return size

    async def _flush_loop(self) -> None:
        delays: Iterator[float] | None = None
        while not self._link.stopping.is_set():
            if not self._buffered:
                self._wakeup.clear()
                await self._wakeup.wait()
                if self._buffered < self._settings.batch_size:
                    await self._pause(self._linger_s)  # let a batch gather: a fraction of a command per event
                continue
            try:
                await self._write_batch()
            except BusError as exc:
                delays = delays or backoff(0.05, self._max_backoff)
                delay = next(delays)
                self._log_failure("publish", exc, buffered=self._buffered, retry_in_s=round(delay, 3))
                await self._pause(delay)
            else:
                delays = None

    def backlog(self) -> int:
        """Events buffered in memory, not yet written to Redis (replay sources pause while this is high)."""
        return self._buffered

    async def flush(self, timeout: float) -> bool:
        """Write everything buffered; True when the buffer is empty within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delays = backoff(0.02, 0.5)
        while self._buffered or self._write_lock.locked():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    await self._write_batch()
            except TimeoutError:
                break
            except BusError as exc:
                self._log_failure("flush", exc, buffered=self._buffered)
                await asyncio.sleep(min(next(delays), max(0.0, deadline - loop.time())))
        return not self._buffered

    async def publish_alert(self, alert: Alert) -> None:
        """Append an alert to the alerts stream once per alert id; raises BusUnavailable while Redis is down.

        An alert whose id was appended already (within the retention) is not appended again: logged only.
        """
        keys = [self._keys.alerts, self._keys.published(alert.id)]
        args = [max(1, self._link.retention_ms), self._minid(), FIELD_KIND, alert.kind, FIELD_DATA, encode_alert(alert)]
        if not await self._call("XADD alerts", self._publish_alert(keys=keys, args=args)):
            log.info("alert_already_published", alert_id=alert.id, kind=alert.kind, status=alert.status)
            return
        self._metrics.bus_published.labels(stream="alerts").inc()

    async def dead_letter(self, alert: Alert, sink: str, reason: str) -> None:
        """Record a delivery a sink gave up on (stream capped at about 100k entries)."""
        fields = {
            FIELD_KIND: alert.kind.encode(),
            FIELD_DATA: encode_alert(alert),
            FIELD_SINK: sink.encode(),
            FIELD_REASON: reason.encode(),
        }
        await self._call(
            "XADD dead letters",
            self._r.xadd(self._keys.dead_letters, fields, maxlen=DEAD_LETTER_MAXLEN, approximate=True),
        )
