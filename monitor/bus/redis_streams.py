"""The Redis Streams bus (DESIGN §5): sharded event streams, an alerts stream, leases.

Producers call :meth:`RedisStreamsBus.publish`, which only appends to a bounded
in-memory buffer; :meth:`RedisStreamsBus.run` writes it out in pipelined XADD
batches (trimmed with ``MINID ~`` to the retention), keeps it while Redis is
unreachable and retries with capped, jittered backoff. Consumers read through
consumer groups: a consumer's own pending entries first, then new ones. A
janitor claims entries left pending by dead consumers (``XAUTOCLAIM``) and a
stats task caches stream lengths, pending entries and lag for Prometheus.
Delivery is at-least-once with per-shard order; see ``docs/bus.md``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from prometheus_client.core import GaugeMetricFamily, Metric
from redis import exceptions as rexc
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from monitor.alerts.model import Alert
from monitor.backoff import backoff as retry_delays
from monitor.bus.base import Delivery, OverflowLog, target_shards
from monitor.bus.codec import decode, decode_alert, encode, encode_alert
from monitor.bus.keys import (
    ALERTS_GROUP,
    EVENTS_GROUP,
    FIELD_DATA,
    FIELD_KIND,
    FIELD_REASON,
    FIELD_SINK,
    Keys,
)
from monitor.errors import BusAuthError, BusError, BusUnavailable, BusWritesRefused, InvalidEvent
from monitor.events import Event
from monitor.logs import Throttle, get_logger
from monitor.metrics import Metrics, default_metrics
from monitor.redact import mask_url
from monitor.settings import BusSettings

log = get_logger(__name__)

T = TypeVar("T")
Fields = dict[bytes, bytes]
Entries = list[tuple[str, Fields]]

DEAD_LETTER_MAXLEN = 100_000
_FAILURE_LOG_INTERVAL_S = 10.0
_CLUSTER_POLL_MS = 100
_STOP_GRACE_S = 3.0
# The bus actions that write (a success clears liqmon_bus_writes_refused).
_WRITES = frozenset({"XADD events", "XADD alerts", "XADD dead letters", "SET NX", "lease acquire"})

# One command per shard and batch instead of one XADD per event: redis-py packs every argument in
# Python, so 2 arguments per event here instead of 11 is most of the publish cost (bench/RESULTS.md §2).
# Each entry is the same XADD the design specifies. The first one trims (MINID ~) for the whole
# batch; the rest skip the trim check, which saves Redis about a quarter of its time per entry.
_XADD_MANY = """
redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[1], '*', 'kind', ARGV[2], 'data', ARGV[3])
for i = 4, #ARGV, 2 do
    redis.call('XADD', KEYS[1], '*', 'kind', ARGV[i], 'data', ARGV[i + 1])
end
return (#ARGV - 1) / 2
"""

# Take the lease if free, renew it if ``owner`` already holds it.
_ACQUIRE_LEASE = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Delete the lease only when ``owner`` holds it.
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def backoff(initial: float, cap: float) -> Iterator[float]:
    """Delays doubling from ``initial`` up to ``cap`` seconds, each jittered into its upper half."""
    return retry_delays(initial, cap, 2.0, low=0.5, high=1.0)


def describe_target(url: str) -> str:
    """The Redis URL for messages, its password masked."""
    return mask_url(url)


def connection_lost(exc: BaseException) -> bool:
    """True for uvloop's error on writing to a connection the peer has reset ("the handler is closed").

    redis-py's pool hands out such a connection when the reset came while it was
    idle, and lets this ``RuntimeError`` through (having dropped the connection,
    so the next command reconnects); the standard event loop raises a
    ``ConnectionResetError`` instead, which redis-py translates.
    """
    return isinstance(exc, RuntimeError) and "handler is closed" in str(exc)


def translate(exc: rexc.RedisError | RuntimeError, action: str, target: str) -> BusError:
    """Ours for a redis-py (or uvloop reset-connection) error: BusUnavailable for network trouble, else BusError."""
    text = str(exc)
    if connection_lost(exc):
        return BusUnavailable(f"Redis at {target} is unreachable ({action}): connection reset ({text})")
    if isinstance(exc, rexc.AuthenticationError) or "WRONGPASS" in text or "NOAUTH" in text:
        return BusAuthError(
            f"Redis at {target} rejected the credentials ({text}); set the password in bus.redis_password "
            "(LIQMON_BUS__REDIS_PASSWORD or redis_password_file) or in bus.redis_url"
        )
    if isinstance(exc, (rexc.OutOfMemoryError, rexc.ReadOnlyError)) or "MISCONF" in text:
        return BusWritesRefused(
            f"Redis at {target} refuses writes ({action}): {text}; writes are retried, events stay "
            "buffered meanwhile (see 'Redis refusing writes' in docs/bus.md)"
        )
    if isinstance(exc, rexc.AuthorizationError) or "NOPERM" in text:
        return BusError(f"the Redis user at {target} lacks permission for {action} ({text}); grant it in the ACL")
    if isinstance(exc, (rexc.ConnectionError, rexc.TimeoutError)):
        return BusUnavailable(f"Redis at {target} is unreachable ({action}): {text}")
    return BusError(f"Redis at {target} failed {action}: {text}")


def build_client(settings: BusSettings) -> Any:
    """A redis-py asyncio client for ``settings`` (plain or cluster), raw bytes replies.

    The socket timeout is kept above the XREADGROUP BLOCK time (redis-py does not
    extend it for blocking reads), and the client's own retries are few and short:
    the bus retries with its own backoff and never stalls the event loop.
    """
    if settings.redis_url is None:
        raise BusError("bus.redis_url is not set; the Redis bus needs a redis:// or rediss:// URL")
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.block_ms / 1000 + 5,
        "socket_connect_timeout": 3.0,
    }
    if settings.redis_password is not None:
        kwargs["password"] = settings.redis_password.get()
    if settings.cluster:
        return RedisCluster.from_url(settings.redis_url, **kwargs)
    retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=2)
    return aioredis.Redis.from_url(settings.redis_url, retry=retry, health_check_interval=30, **kwargs)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_order(entry_id: str) -> tuple[int, int]:
    """Stream entry ids (``<ms>-<seq>``) in stream order."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _raw_reply(response: Any, **options: Any) -> Any:
    """Response callback that keeps a reply as hiredis returned it (see ``parse_read``)."""
    return response


def _fields(fields: Any) -> Fields:
    """An entry's fields as a dict, from a flat [name, value, ...] list or an already-built dict."""
    if not fields:
        return {}
    if isinstance(fields, dict):
        return fields
    if len(fields) == 4:  # kind and data: every entry liqmon writes (a fifth as fast as the general case)
        return {fields[0]: fields[1], fields[2]: fields[3]}
    it = iter(fields)
    return dict(zip(it, it, strict=True))


def parse_read(reply: Any) -> dict[str, Entries]:
    """XREADGROUP replies as {stream key: [(entry id, fields)]}.

    Takes the raw RESP2 (list of [key, entries]) or RESP3 (map) reply, and redis-py's parsed
    shapes too (fields as dicts; its RESP3 parser wraps the entries in one more list).
    Entries deleted while pending come back with no fields (``{}``).
    """
    if not reply:
        return {}
    pairs = reply.items() if isinstance(reply, dict) else reply
    out: dict[str, Entries] = {}
    for key, value in pairs:
        entries = value or ()
        if entries and not isinstance(entries[0][0], (bytes, str)):
            entries = entries[0]
        out[_text(key)] = [(_text(eid), _fields(fields)) for eid, fields in entries if eid is not None]
    return out


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
        self._settings = settings
        self._metrics = metrics or default_metrics()
        self._keys = Keys(settings.key_prefix)
        self._target = describe_target(settings.redis_url or "")
        self._r: Any = client if client is not None else build_client(settings)
        # XREADGROUP replies stay as hiredis built them: redis-py's own parsing builds a list and a
        # dict per entry, about 1.5 µs of the detector's time per event (parse_read reads the raw shape).
        self._r.set_response_callback("XREADGROUP", _raw_reply)
        self._retention_ms = int(settings.retention_hours * 3_600_000)
        self._max_backoff = max_backoff_s
        self._stats_interval = stats_interval_s
        claim_s = settings.claim_idle_ms / 1000
        self._janitor_interval = janitor_interval_s or max(0.05, min(5.0, claim_s / 2))
        self._event_keys = [self._keys.events(s) for s in range(self.shard_count)]
        self._kinds: dict[str, bytes] = {}
        # Publish buffer of (shard, kind, data); bounded by settings.buffer_max_events entries.
        self._buffer: deque[tuple[int, bytes, bytes]] = deque()
        self._in_flight = 0  # entries of the batch being written (out of the buffer until it fails)
        # Read at scrape time, not set per publish: buffered plus the batch being written.
        self._metrics.bus_buffered.set_function(lambda: len(self._buffer) + self._in_flight)
        self._wakeup = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._overflow_log = OverflowLog(log, "redis publish buffer")
        self._failure_log = Throttle(_FAILURE_LOG_INTERVAL_S)
        # Consumer-group state: streams whose group exists, read cursors, who reads what.
        self._groups: set[str] = set()
        self._cursors: dict[tuple[str, str], str] = {}
        # stream key -> (group, consumer, monotonic time of the last read); the janitor claims
        # only on streams read recently, so a shard given up is left to its new owner.
        self._readers: dict[str, tuple[str, str, float]] = {}
        # Entries the janitor claimed, waiting for the next read: id -> (fields, delivery count).
        self._claimed: dict[tuple[str, str], dict[str, tuple[Fields, int]]] = {}
        # Scrape-time figures cached by the stats task.
        self._lengths: dict[str, int] = {}
        self._group_stats: dict[tuple[str, str], tuple[int, int | None]] = {}
        self._acquire = self._r.register_script(_ACQUIRE_LEASE)
        self._release = self._r.register_script(_RELEASE_LEASE)
        self._closed = False
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------ helpers

    async def _call(self, action: str, awaitable: Awaitable[T]) -> T:
        """Await a redis command, translating its errors and tracking ``liqmon_bus_redis_up``."""
        try:
            result = await awaitable
        except (rexc.RedisError, RuntimeError) as exc:
            lost = connection_lost(exc)
            if isinstance(exc, RuntimeError) and not lost:
                raise  # a bug, not Redis
            if lost or isinstance(exc, (rexc.ConnectionError, rexc.TimeoutError)):
                self._metrics.bus_redis_up.set(0)
            error = translate(exc, action, self._target)
            if isinstance(error, BusWritesRefused):
                self._metrics.bus_writes_refused.set(1)
            raise error from exc
        self._metrics.bus_redis_up.set(1)
        if action in _WRITES:
            self._metrics.bus_writes_refused.set(0)
        return result

    def _log_failure(self, what: str, exc: BaseException, **extra: Any) -> None:
        """A warning per kind of failure at most every few seconds (Redis down must not flood logs)."""
        if self._failure_log.allow(what) is not None:
            log.warning("redis bus operation failed", operation=what, error=str(exc), **extra)

    def _minid(self) -> int:
        return max(0, int(time.time() * 1000) - self._retention_ms)

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Check that Redis answers and accepts our credentials; raises BusError/BusUnavailable."""
        await self._call("PING", self._r.ping())

    async def run(self, stop: asyncio.Event) -> None:
        """Flush the publish buffer, claim idle entries and refresh stream stats until ``stop``.

        A bug in a background task ends ``run`` with that exception; Redis outages
        do not (they are logged, counted and retried). Call :meth:`flush` after
        ``run`` returns to write what is still buffered.
        """
        self._metrics.add_scrape_callback(self.collect)
        self._stopping = asyncio.Event()
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._flush_loop(), name="bus-flush"),
            asyncio.create_task(self._janitor_loop(), name="bus-janitor"),
            asyncio.create_task(self._stats_loop(), name="bus-stats"),
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
            self._stopping.set()
            self._wakeup.set()
            stopper.cancel()
            _, stuck = await asyncio.wait(tasks, timeout=_STOP_GRACE_S)
            for task in (stopper, *stuck):
                task.cancel()
            await asyncio.gather(stopper, *tasks, return_exceptions=True)
            self._metrics.remove_scrape_callback(self.collect)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` or until ``run`` is stopping."""
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def close(self) -> None:
        """Close the connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._r.aclose()

    async def ping(self) -> bool:
        """True when Redis answers PING."""
        try:
            await self._call("PING", self._r.ping())
        except BusError:
            return False
        return True

    # ------------------------------------------------------------------ publishing

    def publish(self, events: Sequence[Event]) -> None:
        """Buffer events for the flusher; when the buffer is full the oldest are dropped and counted."""
        if not events:
            return
        buffer = self._buffer
        limit = self._settings.buffer_max_events
        dropped = 0
        for event in events:
            kind = self._kinds.get(event.kind)
            if kind is None:
                kind = self._kinds[event.kind] = event.kind.encode()
            data = encode(event)
            for shard in target_shards(event, self.shard_count):
                if len(buffer) >= limit:
                    buffer.popleft()
                    dropped += 1
                buffer.append((shard, kind, data))
        if dropped:
            self._dropped(dropped)
        self._wakeup.set()

    def _dropped(self, count: int) -> None:
        self._metrics.bus_overflow.inc(count)
        self._overflow_log.dropped(count, time.monotonic())

    def _requeue(self, batch: list[tuple[int, bytes, bytes]]) -> None:
        """Put an unwritten batch back in front, keeping order; trim the oldest beyond the bound."""
        self._buffer.extendleft(reversed(batch))
        excess = len(self._buffer) - self._settings.buffer_max_events
        for _ in range(max(0, excess)):
            self._buffer.popleft()
        if excess > 0:
            self._dropped(excess)

    async def _write_batch(self) -> int:
        """Write up to ``batch_size`` buffered entries, one scripted XADD loop per shard; returns how many."""
        async with self._write_lock:
            buffer = self._buffer
            size = min(self._settings.batch_size, len(buffer))
            if size == 0:
                return 0
            batch = [buffer.popleft() for _ in range(size)]
            self._in_flight = size
            written = False
            started = time.perf_counter()
            try:
                minid = self._minid()
                per_shard: dict[int, list[bytes | int]] = {}
                for shard, kind, data in batch:
                    args = per_shard.get(shard)
                    if args is None:
                        args = per_shard[shard] = [minid]
                    args += (kind, data)
                async with self._r.pipeline(transaction=False) as pipe:
                    for shard, args in per_shard.items():
                        pipe.eval(_XADD_MANY, 1, self._event_keys[shard], *args)
                    await self._call("XADD events", pipe.execute())
                written = True
            finally:
                self._in_flight = 0
                if not written:
                    self._requeue(batch)
        self._metrics.bus_write_seconds.observe(time.perf_counter() - started)
        self._metrics.bus_published.labels(stream="events").inc(size)
        return size

    async def _flush_loop(self) -> None:
        delays: Iterator[float] | None = None
        while not self._stopping.is_set():
            if not self._buffer:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                await self._write_batch()
            except BusError as exc:
                delays = delays or backoff(0.05, self._max_backoff)
                delay = next(delays)
                self._log_failure("publish", exc, buffered=len(self._buffer), retry_in_s=round(delay, 3))
                await self._pause(delay)
            else:
                delays = None

    def backlog(self) -> int:
        """Events buffered in memory, not yet written to Redis (replay sources pause while this is high)."""
        return len(self._buffer)

    async def flush(self, timeout: float) -> bool:
        """Write everything buffered; True when the buffer is empty within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delays = backoff(0.02, 0.5)
        while self._buffer or self._write_lock.locked():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    await self._write_batch()
            except TimeoutError:
                break
            except BusError as exc:
                self._log_failure("flush", exc, buffered=len(self._buffer))
                await asyncio.sleep(min(next(delays), max(0.0, deadline - loop.time())))
        return not self._buffer

    async def publish_alert(self, alert: Alert) -> None:
        """Append an alert to the alerts stream; raises BusUnavailable while Redis is down."""
        fields = {FIELD_KIND: alert.kind.encode(), FIELD_DATA: encode_alert(alert)}
        await self._call("XADD alerts", self._r.xadd(self._keys.alerts, fields, minid=self._minid(), approximate=True))
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

    # ------------------------------------------------------------------ consuming

    async def _ensure_groups(self, keys: Iterable[str], group: str, *, lost: bool = False) -> None:
        """Create missing groups (from the stream's start). ``lost``: they vanished, count and warn."""
        for key in keys:
            if key in self._groups:
                continue
            try:
                await self._call(f"XGROUP CREATE {key}", self._r.xgroup_create(key, group, id="0", mkstream=True))
            except BusError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            else:
                if lost:
                    self._metrics.bus_resets.inc()
                    log.warning(
                        "consumer group was missing and has been recreated: Redis lost its data "
                        "(restart without persistence?); entries not yet consumed were lost",
                        group=group,
                        stream=self._keys.label(key),
                        hint="enable appendonly in redis.conf to keep streams across restarts",
                    )
            self._groups.add(key)

    async def _recreate_groups(self, keys: Sequence[str], group: str) -> None:
        """After NOGROUP: recreate the groups Redis lost and re-read pending lists from the start."""
        self._groups.difference_update(keys)
        for consumer, key in list(self._cursors):
            if key in keys:
                self._cursors[(consumer, key)] = "0"
                self._claimed.pop((consumer, key), None)
        await self._ensure_groups(keys, group, lost=True)

    async def _xreadgroup(
        self, group: str, consumer: str, cursors: dict[str, str], count: int, block_ms: int
    ) -> dict[str, Entries]:
        block = block_ms if block_ms > 0 else None
        if not self._settings.cluster or len(cursors) == 1:
            reply = await self._r.xreadgroup(group, consumer, cursors, count=count, block=block)
            return parse_read(reply)
        # Cluster: each shard is its own slot, so one XREADGROUP per stream, polled in short blocks.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, block_ms) / 1000
        while True:
            step = min(block_ms, _CLUSTER_POLL_MS) if block_ms > 0 else None
            replies = await asyncio.gather(
                *(self._r.xreadgroup(group, consumer, {k: c}, count=count, block=step) for k, c in cursors.items())
            )
            merged: dict[str, Entries] = {}
            for reply in replies:
                merged.update(parse_read(reply))
            if any(merged.values()) or block is None or loop.time() >= deadline:
                return merged

    async def _read(
        self, group: str, consumer: str, keys: Sequence[str], count: int, block_ms: int
    ) -> list[tuple[str, Entries, dict[str, int]]]:
        """Entries for ``consumer``: its own pending ones first (cursor per stream), then new ones."""
        await self._ensure_groups(keys, group)
        now = time.monotonic()
        for key in keys:
            self._readers[key] = (group, consumer, now)
        claimed = self._take_claimed(consumer, keys, count)
        if claimed:
            return claimed
        for _ in range(3):
            cursors = {k: self._cursors.get((consumer, k), "0") for k in keys}
            new_only = all(c == ">" for c in cursors.values())
            try:
                replies = await self._call(
                    "XREADGROUP", self._xreadgroup(group, consumer, cursors, count, block_ms if new_only else 0)
                )
            except BusError as exc:
                for key in keys:  # a lost reply leaves entries in our pending list: re-read it next time
                    self._cursors[(consumer, key)] = "0"
                if "NOGROUP" in str(exc):
                    await self._recreate_groups(keys, group)
                    continue
                raise
            result: list[tuple[str, Entries, dict[str, int]]] = []
            switched = False
            for key in keys:
                entries = replies.get(key, [])
                counts: dict[str, int] = {}
                if cursors[key] != ">":
                    if entries:
                        self._cursors[(consumer, key)] = entries[-1][0]
                        counts = await self._delivery_counts(key, group, consumer, entries)
                    else:
                        self._cursors[(consumer, key)] = ">"
                        switched = True
                if entries:
                    result.append((key, entries, counts))
            if result or not switched:
                return result
        return []

    def _take_claimed(
        self, consumer: str, keys: Sequence[str], count: int
    ) -> list[tuple[str, Entries, dict[str, int]]]:
        """Entries the janitor claimed for ``consumer``, up to ``count`` per stream."""
        out: list[tuple[str, Entries, dict[str, int]]] = []
        for key in keys:
            queue = self._claimed.get((consumer, key))
            if not queue:
                continue
            taken = [(entry_id, queue.pop(entry_id)) for entry_id in list(itertools.islice(queue, count))]
            out.append((key, [(i, v[0]) for i, v in taken], {i: v[1] for i, v in taken}))
        return out

    async def _delivery_counts(
        self, key: str, group: str, consumer: str, entries: Entries, *, scan: int = 0
    ) -> dict[str, int]:
        """Redis's delivery counter of pending entries of ``consumer`` (``scan``: extra rows to allow for).

        These entries were delivered before; if the counter cannot be read they count as 2.
        """
        try:
            rows = await self._call(
                "XPENDING",
                self._r.xpending_range(
                    key,
                    group,
                    min=entries[0][0],
                    max=entries[-1][0],
                    count=len(entries) + scan,
                    consumername=consumer,
                ),
            )
        except BusError as exc:
            self._log_failure("delivery count", exc)
            rows = []
        counts = {_text(row["message_id"]): int(row["times_delivered"]) for row in rows}
        return {entry_id: counts.get(entry_id, 2) for entry_id, _ in entries}

    async def _skip(self, key: str, group: str, stream: str, bad: list[tuple[str, str, str]]) -> None:
        """Acknowledge entries that can never be handled (trimmed while pending, undecodable)."""
        for entry_id, reason, detail in bad:
            self._metrics.bus_invalid.labels(stream=stream, reason=reason).inc()
            log.warning(
                "skipping bus entry", stream=self._keys.label(key), entry_id=entry_id, reason=reason, detail=detail
            )
        await self._call("XACK", self._r.xack(key, group, *(b[0] for b in bad)))

    async def read_events(
        self, shards: Sequence[int], consumer: str, *, count: int, block_ms: int
    ) -> list[Delivery[Event]]:
        """Next events of ``shards`` for ``consumer`` (up to ``count`` per shard), own pending entries first."""
        keys = {self._keys.events(s): s for s in shards}
        out: list[Delivery[Event]] = []
        for key, entries, counts in await self._read(EVENTS_GROUP, consumer, list(keys), count, block_ms):
            bad: list[tuple[str, str, str]] = []
            for entry_id, fields in entries:
                data = fields.get(FIELD_DATA)
                if data is None:
                    bad.append((entry_id, "trimmed", "payload trimmed by retention while pending"))
                    continue
                try:
                    event = decode(data)
                except InvalidEvent as exc:
                    bad.append((entry_id, "decode", str(exc)))
                    continue
                out.append(Delivery(keys[key], entry_id, event, counts.get(entry_id, 1)))
            if bad:
                await self._skip(key, EVENTS_GROUP, "events", bad)
        if out:
            self._metrics.bus_consumed.labels(stream="events").inc(len(out))
        return out

    async def ack_events(self, deliveries: Sequence[Delivery[Event]]) -> None:
        """Acknowledge handled events: one XACK per stream, pipelined."""
        by_shard: dict[int, list[str]] = {}
        for d in deliveries:
            ids = by_shard.get(d.shard)
            if ids is None:
                ids = by_shard[d.shard] = []
            ids.append(d.entry_id)
        await self._ack(EVENTS_GROUP, {self._event_keys[shard]: ids for shard, ids in by_shard.items()})

    async def _ack(self, group: str, by_key: dict[str, list[str]]) -> None:
        if not by_key:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for key, ids in by_key.items():
                pipe.xack(key, group, *ids)
            await self._call("XACK", pipe.execute())

    async def read_alerts(self, consumer: str, *, count: int, block_ms: int) -> list[Delivery[Alert]]:
        """Next alerts for the dispatcher ``consumer`` (own pending entries first)."""
        key = self._keys.alerts
        out: list[Delivery[Alert]] = []
        for _, entries, counts in await self._read(ALERTS_GROUP, consumer, [key], count, block_ms):
            bad: list[tuple[str, str, str]] = []
            for entry_id, fields in entries:
                data = fields.get(FIELD_DATA)
                if data is None:
                    bad.append((entry_id, "trimmed", "payload trimmed by retention while pending"))
                    continue
                try:
                    alert = decode_alert(data)
                except InvalidEvent as exc:
                    bad.append((entry_id, "decode", str(exc)))
                    continue
                out.append(Delivery(-1, entry_id, alert, counts.get(entry_id, 1)))
            if bad:
                await self._skip(key, ALERTS_GROUP, "alerts", bad)
        if out:
            self._metrics.bus_consumed.labels(stream="alerts").inc(len(out))
        return out

    async def ack_alerts(self, deliveries: Sequence[Delivery[Alert]]) -> None:
        """Acknowledge dispatched alerts."""
        if deliveries:
            await self._ack(ALERTS_GROUP, {self._keys.alerts: [d.entry_id for d in deliveries]})

    async def read_history(self, shard: int, after_id: str, count: int) -> list[Delivery[Event]]:
        """Up to ``count`` retained events of ``shard`` after ``after_id`` (``"0"`` = from the start)."""
        key = self._keys.events(shard)
        start = "-" if after_id in ("0", "0-0", "-") else f"({after_id}"
        reply = await self._call("XRANGE", self._r.xrange(key, min=start, max="+", count=count))
        out: list[Delivery[Event]] = []
        for raw_id, fields in reply:
            data = (fields or {}).get(FIELD_DATA)
            if data is None:
                continue
            try:
                out.append(Delivery(shard, _text(raw_id), decode(data)))
            except InvalidEvent as exc:
                self._metrics.bus_invalid.labels(stream="events", reason="decode").inc()
                log.warning("skipping undecodable history entry", shard=shard, entry_id=_text(raw_id), detail=str(exc))
        return out

    # ------------------------------------------------------------------ janitor

    async def adopt_pending(self, shard: int, consumer: str) -> set[str]:
        """XAUTOCLAIM every pending entry of the shard (no idle minimum) for ``consumer``, in entry order.

        Only for a shard whose lease ``consumer`` has just taken: the previous owner
        is gone, so its unacknowledged entries are ours to handle, live and first.
        """
        key = self._keys.events(shard)
        await self._ensure_groups([key], EVENTS_GROUP)
        adopted: dict[str, tuple[Fields, int]] = {}
        start = "0-0"
        while True:  # one pass over the group's pending list, which the stream's length bounds
            start, page = await self._autoclaim(key, EVENTS_GROUP, consumer, 0, start, count=500, scan=500)
            adopted.update(page)
            if start in ("0-0", "0"):
                break
        if adopted:
            queue = self._claimed.setdefault((consumer, key), {})
            queue.update(adopted)
            ordered = sorted(queue.items(), key=lambda item: _id_order(item[0]))
            queue.clear()
            queue.update(ordered)
            self._metrics.bus_claimed.inc(len(adopted))
            log.info("adopted entries left pending by the previous shard owner", shard=shard, count=len(adopted))
        return set(adopted)

    async def _autoclaim(
        self, key: str, group: str, consumer: str, min_idle_ms: int, start: str, *, count: int, scan: int
    ) -> tuple[str, dict[str, tuple[Fields, int]]]:
        """One XAUTOCLAIM page for ``consumer``: the next cursor, and claimed id -> (fields, delivery count)."""
        reply = await self._call(
            "XAUTOCLAIM", self._r.xautoclaim(key, group, consumer, min_idle_ms, start_id=start, count=count)
        )
        entries = [(_text(i), f or {}) for i, f in reply[1] if i is not None]
        page: dict[str, tuple[Fields, int]] = {}
        if entries:
            counts = await self._delivery_counts(key, group, consumer, entries, scan=scan)
            page = {i: (f, counts[i]) for i, f in entries}
        return _text(reply[0]), page

    async def _claim_others(
        self, key: str, group: str, consumer: str, min_idle_ms: int, *, count: int = 100
    ) -> dict[str, tuple[Fields, int]]:
        """XCLAIM for ``consumer`` the entries idle ``min_idle_ms`` that other consumers of ``group`` hold."""
        rows = await self._call(
            "XPENDING", self._r.xpending_range(key, group, min="-", max="+", count=count, idle=min_idle_ms)
        )
        counts = {
            _text(r["message_id"]): int(r["times_delivered"]) + 1 for r in rows if _text(r["consumer"]) != consumer
        }
        if not counts:
            return {}
        reply = await self._call("XCLAIM", self._r.xclaim(key, group, consumer, min_idle_ms, list(counts)))
        return {_text(i): (f or {}, counts.get(_text(i), 2)) for i, f in reply if i is not None and f is not None}

    async def claim_idle(self) -> int:
        """Claim entries idle longer than ``claim_idle_ms`` on the streams this bus reads; returns how many.

        Claimed entries (of dead consumers, or handed out here and never acknowledged)
        are queued for the next read of the consumer that reads the stream here. On
        the alerts stream only other consumers' entries are claimed: the dispatcher
        keeps its own in flight (a slow sink) and must not take them back from itself.
        """
        claimed = 0
        recent = time.monotonic() - max(10.0, 2 * self._settings.claim_idle_ms / 1000)
        for key, (group, consumer, last_read) in list(self._readers.items()):
            if last_read < recent:
                continue
            if group == ALERTS_GROUP:  # the dispatcher tracks its own entries in flight: claim only others'
                try:
                    page = await self._claim_others(key, group, consumer, self._settings.claim_idle_ms)
                except BusError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    await self._recreate_groups([key], group)
                    continue
                queue = self._claimed.setdefault((consumer, key), {})
                claimed += sum(1 for i in page if i not in queue)
                queue.update(page)
                continue
            start = "0-0"
            for _ in range(10):  # bounded work per pass; the next pass continues
                try:
                    start, page = await self._autoclaim(
                        key, group, consumer, self._settings.claim_idle_ms, start, count=100, scan=1000
                    )
                except BusError as exc:
                    if "NOGROUP" in str(exc):
                        await self._recreate_groups([key], group)
                        break
                    raise
                if page:
                    queue = self._claimed.setdefault((consumer, key), {})
                    claimed += sum(1 for i in page if i not in queue)
                    queue.update(page)
                if start in ("0-0", "0"):
                    break
        if claimed:
            self._metrics.bus_claimed.inc(claimed)
            log.info("claimed entries left pending by another consumer", count=claimed)
        return claimed

    async def _janitor_loop(self) -> None:
        while not self._stopping.is_set():
            await self._pause(self._janitor_interval)
            if self._stopping.is_set():
                return
            try:
                await self.claim_idle()
            except BusError as exc:
                self._log_failure("claim", exc)

    # ------------------------------------------------------------------ stats

    async def refresh_stats(self) -> None:
        """Read XLEN and XINFO GROUPS of every stream and cache them for the next scrape."""
        streams = [*self._event_keys, self._keys.alerts, self._keys.dead_letters]
        grouped = [*self._event_keys, self._keys.alerts]
        async with self._r.pipeline(transaction=False) as pipe:
            for key in streams:
                pipe.xlen(key)
            for key in grouped:
                pipe.xinfo_groups(key)
            replies = await self._call("XLEN/XINFO", pipe.execute(raise_on_error=False))
        lengths = {self._keys.label(k): int(n) for k, n in zip(streams, replies, strict=False) if isinstance(n, int)}
        groups: dict[tuple[str, str], tuple[int, int | None]] = {}
        for key, info in zip(grouped, replies[len(streams) :], strict=False):
            if isinstance(info, Exception):
                continue  # no such key yet
            for raw in info:
                row = {_text(k): v for k, v in raw.items()}
                lag = row.get("lag")
                groups[(self._keys.label(key), _text(row["name"]))] = (
                    int(row.get("pending") or 0),
                    None if lag is None else int(lag),
                )
        self._lengths, self._group_stats = lengths, groups

    async def _stats_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.refresh_stats()
            except BusError as exc:
                self._log_failure("stats", exc)
            await self._pause(self._stats_interval)

    def collect(self) -> Iterable[Metric]:
        """Scrape callback: the cached stream figures as gauges."""
        length = GaugeMetricFamily(
            "liqmon_bus_stream_length",
            "Entries retained in a bus stream (XLEN, refreshed every few seconds).",
            labels=["stream"],
        )
        for stream, n in sorted(self._lengths.items()):
            length.add_metric([stream], n)
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
        for (stream, group), (n_pending, n_lag) in sorted(self._group_stats.items()):
            pending.add_metric([stream, group], n_pending)
            if n_lag is not None:
                lag.add_metric([stream, group], n_lag)
        return [length, pending, lag]

    # ------------------------------------------------------------------ dedup and leases

    async def claim_once(self, key: str, ttl_ms: int) -> bool:
        """True the first time ``key`` is claimed within ``ttl_ms`` (SET NX PX)."""
        reply = await self._call("SET NX", self._r.set(self._keys.sent(key), b"1", nx=True, px=ttl_ms))
        return bool(reply)

    async def acquire_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take the lease ``name`` or renew it when ``owner`` holds it; False when another owner does."""
        reply = await self._call("lease acquire", self._acquire(keys=[self._keys.lease(name)], args=[owner, ttl_ms]))
        return bool(reply)

    async def release_lease(self, name: str, owner: str) -> None:
        """Delete the lease ``name`` only when ``owner`` holds it."""
        await self._call("lease release", self._release(keys=[self._keys.lease(name)], args=[owner]))
