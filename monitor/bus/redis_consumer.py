"""The consuming part of the Redis bus: consumer groups, own pending entries first, claims.

Consumers read through consumer groups: a consumer's own pending entries first
(a cursor per stream), then new ones. Events entries are decoded into
:class:`~monitor.bus.base.EventEntry` batches (the previous release's
one-event entries too); entries that can never be handled are acknowledged and
counted. A janitor claims entries left pending by dead consumers
(``XAUTOCLAIM``) on the streams read here, and a new shard owner adopts what its
predecessor left pending.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable, Sequence

from monitor.alert import Alert, decode_alert
from monitor.bus.base import Delivery, EventEntry
from monitor.bus.codec import decode, decode_batch
from monitor.bus.keys import ALERTS_GROUP, EVENTS_GROUP, FIELD_COUNT, FIELD_DATA, events_label
from monitor.bus.redis_link import Entries, Fields, RedisLink, Room, _id_order, _text, parse_read
from monitor.errors import BusError, InvalidEvent
from monitor.events import Event
from monitor.logs import get_logger

log = get_logger(__name__)

_CLUSTER_POLL_MS = 100


class Consumer(Room):
    """Reading, acknowledging and claiming entries of the event shards and the alerts stream."""

    def __init__(self, link: RedisLink, *, janitor_interval_s: float | None) -> None:
        super().__init__(link)
        claim_s = link.settings.claim_idle_ms / 1000
        self._janitor_interval = janitor_interval_s or max(0.05, min(5.0, claim_s / 2))
        # Consumer-group state: streams whose group exists, read cursors, who reads what.
        self._groups: set[str] = set()
        self._cursors: dict[tuple[str, str], str] = {}
        # stream key -> (group, consumer, monotonic time of the last read); the janitor claims
        # only on streams read recently, so a shard given up is left to its new owner.
        self._readers: dict[str, tuple[str, str, float]] = {}
        # Entries the janitor claimed, waiting for the next read: id -> (fields, delivery count).
        self._claimed: dict[tuple[str, str], dict[str, tuple[Fields, int]]] = {}

    async def run_janitor(self) -> None:
        """Claim idle entries every few seconds until the link is stopping."""
        await self._janitor_loop()

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
                        "bus_consumer_group_recreated",
                        group=group,
                        stream=self._keys.label(key),
                        hint=(
                            "Redis lost its data (restart without persistence?) and entries not yet consumed "
                            "were lost; enable appendonly in redis.conf to keep streams across restarts"
                        ),
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
                "bus_entry_skipped", stream=self._keys.label(key), entry_id=entry_id, reason=reason, detail=detail
            )
        await self._call("XACK", self._r.xack(key, group, *(b[0] for b in bad)))

    def _entry_events(self, shard: int, entry_id: str, fields: Fields) -> tuple[list[Event], str, str]:
        """The events of an entry, and (reason, detail) when it cannot be handled at all.

        Batched entries carry ``n`` and ``data`` (a JSON array); entries the previous
        release wrote carry ``kind`` and ``data`` (one event) and are still read. Bad
        events inside a batch are counted and logged; their neighbours go on.
        """
        data = fields.get(FIELD_DATA)
        if data is None:
            return [], "trimmed", "payload trimmed by retention while pending"
        try:
            if FIELD_COUNT not in fields:
                return [decode(data)], "", ""
            events, errors = decode_batch(data)
        except InvalidEvent as exc:
            return [], "decode", str(exc)
        if errors:
            self._metrics.bus_invalid.labels(stream="events", reason="event").inc(len(errors))
            log.warning(
                "bus_entry_events_skipped",
                stream=events_label(shard),
                entry_id=entry_id,
                count=len(errors),
                detail=str(errors[0]),
            )
        return events, "", ""

    async def read_events(self, shards: Sequence[int], consumer: str, *, count: int, block_ms: int) -> list[EventEntry]:
        """Next entries of ``shards`` for ``consumer`` (up to ``count`` per shard), own pending entries first."""
        keys = {self._keys.events(s): s for s in shards}
        out: list[EventEntry] = []
        consumed = 0
        for key, entries, counts in await self._read(EVENTS_GROUP, consumer, list(keys), count, block_ms):
            shard = keys[key]
            bad: list[tuple[str, str, str]] = []
            for entry_id, fields in entries:
                events, reason, detail = self._entry_events(shard, entry_id, fields)
                if reason:
                    bad.append((entry_id, reason, detail))
                    continue
                out.append(EventEntry(shard, entry_id, events, counts.get(entry_id, 1)))
                consumed += len(events)
            if bad:
                await self._skip(key, EVENTS_GROUP, "events", bad)
        if consumed:
            self._metrics.bus_consumed.labels(stream="events").inc(consumed)
        return out

    async def ack_events(self, entries: Sequence[EventEntry]) -> None:
        """Acknowledge handled entries: one XACK per stream, pipelined."""
        by_shard: dict[int, list[str]] = {}
        for entry in entries:
            ids = by_shard.get(entry.shard)
            if ids is None:
                ids = by_shard[entry.shard] = []
            ids.append(entry.entry_id)
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

    async def read_history(self, shard: int, after_id: str, count: int) -> list[EventEntry]:
        """Up to ``count`` retained entries of ``shard`` after ``after_id`` (``"0"`` = from the start)."""
        key = self._keys.events(shard)
        start = "-" if after_id in ("0", "0-0", "-") else f"({after_id}"
        reply = await self._call("XRANGE", self._r.xrange(key, min=start, max="+", count=count))
        out: list[EventEntry] = []
        for raw_id, fields in reply:
            entry_id = _text(raw_id)
            events, reason, detail = self._entry_events(shard, entry_id, fields or {})
            if reason == "decode":
                self._metrics.bus_invalid.labels(stream="events", reason="decode").inc()
                log.warning("bus_history_entry_skipped", shard=shard, entry_id=entry_id, detail=detail)
            out.append(EventEntry(shard, entry_id, events))
        return out

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
            log.info("bus_pending_adopted", shard=shard, count=len(adopted))
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
            log.info("bus_pending_claimed", count=claimed)
        return claimed

    async def _janitor_loop(self) -> None:
        while not self._link.stopping.is_set():
            await self._pause(self._janitor_interval)
            if self._link.stopping.is_set():
                return
            try:
                await self.claim_idle()
            except BusError as exc:
                self._log_failure("claim", exc)
