"""The detector runner: bus → :class:`DetectionEngine` per owned shard → alerts stream (the only async module).

Each events shard has exactly one owner at a time: a lease ``detector-shard-N``
taken with a time to live and renewed well within it. Live processes announce
themselves and share the shards fairly (shares differ by at most one): a newcomer
gets its share from the others, a dead member's shards are taken by the rest. An owner checkpoints
each shard's detector state next to its stream (every ``checkpoint_interval_s`` or
``checkpoint_events``, and when it hands the shard over). A process that takes a
shard over (its owner died or left) restores the checkpoint and replays only the
entries after it — or, without a usable checkpoint, rebuilds the state from the
stream's retained history — without emitting anything: the rebuilt
engine knows which episodes are already firing, so they are not announced
again and their ``resolved`` comes exactly once. History entries are then
skipped when they are delivered live (the previous owner's pending entries,
claimed later). Events are acknowledged only after their alerts are published.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence

from monitor.aio import sleep_or_stop
from monitor.alert import Alert
from monitor.backoff import backoff
from monitor.bus.base import Bus, EventEntry
from monitor.detectors import checkpoint
from monitor.detectors.config import DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.detectors.hygiene import Outcome
from monitor.errors import BusError, BusUnavailable
from monitor.logs import get_logger
from monitor.metrics import OTHER, Metrics

log = get_logger(__name__)

_RETRY_INITIAL_S = 0.1
_RETRY_CAP_S = 5.0
_METRICS_INTERVAL_S = 1.0
# Between renewals a member looks this often for a lapsed lease (one pipelined GET): a dead owner's
# shards are taken within this of its lease's expiry, not at the next renewal (up to lease_renew_s).
_WATCH_S = 0.5


# The group of live `liqmon detect` processes sharing the shards (bus.announce).
MEMBERS_GROUP = "detectors"


def lease_name(shard: int) -> str:
    """The lease guarding shard ``shard``."""
    return f"detector-shard-{shard}"


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream entry id ``<ms>-<seq>`` as a comparable tuple."""
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


class _Shard:
    """One owned shard: its engine, lease validity, the last entry its rebuild covered and its checkpointing."""

    __slots__ = ("engine", "last_entry", "lease_until", "next_checkpoint", "rebuilt_upto", "unsaved")

    def __init__(
        self, engine: DetectionEngine, lease_until: float, rebuilt_upto: str | None, next_checkpoint: float
    ) -> None:
        self.engine = engine
        self.lease_until = lease_until
        self.rebuilt_upto = entry_key(rebuilt_upto) if rebuilt_upto else None
        # The newest entry in the engine's state (what a checkpoint covers) and events handled since the last one.
        self.last_entry = rebuilt_upto
        self.unsaved = 0
        self.next_checkpoint = next_checkpoint


class DetectorRunner:
    """Consumes the event shards this process owns and publishes the detectors' alerts."""

    def __init__(self, settings: DetectorSettings, bus: Bus, metrics: Metrics, *, consumer: str) -> None:
        self.settings = settings
        self.bus = bus
        self.metrics = metrics
        self.consumer = consumer
        self.shards: dict[int, _Shard] = {}
        self._ttl_ms = int(settings.lease_ttl_s * 1000)
        self._fingerprint = checkpoint.settings_fingerprint(settings)
        # Checkpoints are written when another process can take a shard over and the settings ask for them.
        self._checkpoints = bus.shared and bool(settings.checkpoint_interval_s or settings.checkpoint_events)
        self._renew_due = 0.0
        self._next_renew = 0.0  # the next renewal or watch for lapsed leases, whichever comes first
        self._next_metrics = 0.0
        self.members: list[str] = [consumer]  # live detector processes, as last announced
        self._free_since: dict[int, float] = {}  # shard -> monotonic time it was first seen free
        self._writes: dict[int, asyncio.Task[None]] = {}  # the last checkpoint write of each shard
        self.published = 0
        self._stop = asyncio.Event()
        # Set when the input has ended (a replay): handle what is readable before returning.
        self.drain_after_stop = False

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Detect until ``stop`` is set; then finish and ack the batch in hand and return.

        Nothing more is read after ``stop`` (what is left stays in the streams for the
        next owner, so a shutdown takes one batch however large the backlog), unless
        :attr:`drain_after_stop` asks to handle what is readable first (the end of a replay).
        """
        self._stop = stop
        if not self.settings.enabled:
            log.info("detectors_disabled", hint="detectors.enabled = false in the configuration")
            await stop.wait()
            return
        log.info("detector_runner_started", consumer=self.consumer, shard_count=self.bus.shard_count)
        delays = _backoff()
        try:
            while not stop.is_set():
                await self._maybe_renew()
                if not self.shards:
                    await sleep_or_stop(stop, max(0.0, self._next_renew - time.monotonic()))
                    continue
                try:
                    batch = await self.bus.read_events(
                        sorted(self.shards),
                        self.consumer,
                        count=self.settings.read_count,
                        block_ms=self.settings.block_ms,
                    )
                except BusError as exc:
                    log.warning("detector_read_failed", error=str(exc), hint="retrying")
                    await sleep_or_stop(stop, next(delays))
                    continue
                delays = _backoff()
                await self._handle(batch, stop)
                await self._save_due()
            if self.drain_after_stop:
                await self._drain(stop)
        finally:
            await self._release_all()
        log.info("detector_runner_stopped", published=self.published)

    async def _drain(self, stop: asyncio.Event) -> None:
        """After stop: handle what is readable without blocking."""
        for _ in range(1000):  # bounded: a busy stream must not hold shutdown forever
            if not self.shards:
                return
            try:
                batch = await self.bus.read_events(
                    sorted(self.shards), self.consumer, count=self.settings.read_count, block_ms=0
                )
            except BusError as exc:
                log.warning("detector_drain_failed", error=str(exc), hint="pending entries stay for the next owner")
                return
            if not batch:
                return
            await self._handle(batch, stop)

    def _stopping(self) -> bool:
        """True once stopped for good: no new work is taken (a replay's end still drains)."""
        return self._stop.is_set() and not self.drain_after_stop

    # ------------------------------------------------------------------ leases

    async def _maybe_renew(self) -> None:
        """Renew when due, or earlier when a watch finds a lapsed lease; drop shards whose lease ran out."""
        now = time.monotonic()
        if now >= self._next_renew:
            if now >= self._renew_due or await self._lease_lapsed():
                self._renew_due = now + self.settings.lease_renew_s
                await self._renew()
            self._next_renew = min(self._renew_due, time.monotonic() + _WATCH_S)
        for shard, owned in list(self.shards.items()):
            if time.monotonic() > owned.lease_until:
                log.warning(
                    "detector_shard_lease_expired", shard=shard, hint="not renewed in time; giving the shard up"
                )
                del self.shards[shard]
        self.metrics.shards_owned.set(len(self.shards))

    async def _renew(self) -> None:
        """Announce this process, renew owned leases, then move towards the fair share of the shards.

        The live members (announced with a time to live, like the leases) share the
        shards: each aims at its fair share (:meth:`fair_share`). A process
        above its share gives up the surplus — it stops acting on a shard before it
        releases the lease — and one below it takes free shards, starting from its
        own slice of the shard ring so members do not contend for the same ones.
        A shard free for a whole lease time is taken even beyond the share (its
        owner's announcement may still be counted after the owner died).
        """
        try:
            self.members = await self.bus.announce(MEMBERS_GROUP, self.consumer, self._ttl_ms)
        except BusError as exc:
            log.warning("detector_announce_failed", error=str(exc))
        await self._renew_owned()
        share = self.fair_share()
        order = self._preference(share)
        await self._give_up_surplus(share, order)
        await self._take_free(share, order)

    async def _lease_lapsed(self) -> bool:
        """True when a shard this process does not own has no lease holder (its owner left or died)."""
        others = [shard for shard in range(self.bus.shard_count) if shard not in self.shards]
        if not others:
            return False
        try:
            holders = await self.bus.lease_holders([lease_name(shard) for shard in others])
        except BusError as exc:
            log.warning("detector_leases_read_failed", error=str(exc))
            return False
        return None in holders

    def owned(self) -> set[int]:
        """The shards this process acts on: owned, with a lease that cannot have lapsed yet."""
        now = time.monotonic()
        return {shard for shard, owned in self.shards.items() if owned.lease_until >= now}

    def fair_share(self) -> int:
        """How many shards this process aims at: shards / live members, the remainder to the first members.

        Shares differ by at most one and add up to the shard count (4 shards among 3
        members: 2, 1, 1), so nobody idles while another holds two; ``max_shards`` caps it.
        """
        count, members = self.bus.shard_count, max(1, len(self.members))
        share = count // members + (1 if self._index() < count % members else 0)
        limit = self.settings.max_shards
        return min(share, limit) if limit else share

    def _index(self) -> int:
        return self.members.index(self.consumer) if self.consumer in self.members else 0

    def _preference(self, share: int) -> list[int]:
        """Every shard, starting with this member's own slice of the ring (after the slices of those before it)."""
        count, members, index = self.bus.shard_count, max(1, len(self.members)), self._index()
        start = index * (count // members) + min(index, count % members)
        return [(start + i) % count for i in range(count)]

    async def _renew_owned(self) -> None:
        """Renew the lease of every owned shard; a shard whose lease went to another process is given up."""
        for shard in list(self.shards):
            asked = time.monotonic()
            try:
                held = await self.bus.acquire_lease(lease_name(shard), self.consumer, self._ttl_ms)
            except BusError as exc:
                log.warning("detector_lease_renew_failed", shard=shard, error=str(exc))
                continue
            owned = self.shards.get(shard)
            if owned is None:
                continue
            if held:
                owned.lease_until = asked + self.settings.lease_ttl_s * 0.9
            else:
                log.warning(
                    "detector_shard_lease_taken", shard=shard, hint="another detector holds it; giving the shard up"
                )
                del self.shards[shard]

    async def _give_up_surplus(self, share: int, order: Sequence[int]) -> None:
        """Release owned shards beyond ``share``, the last of this member's order first."""
        surplus = len(self.shards) - share
        for shard in reversed(order):
            if surplus <= 0:
                return
            owned = self.shards.pop(shard, None)  # no longer acted on here before anyone else can take it
            if owned is None:
                continue
            surplus -= 1
            await self._checkpoint(shard, owned)  # the next owner starts from here
            try:
                await self.bus.release_lease(lease_name(shard), self.consumer)
            except BusError as exc:
                log.warning(
                    "detector_surplus_release_failed", shard=shard, error=str(exc), hint="its lease expires on its own"
                )
            log.info("detector_shard_handed_over", shard=shard, members=len(self.members), share=share)
        self.metrics.shards_owned.set(len(self.shards))

    async def _take_free(self, share: int, order: Sequence[int]) -> None:
        """Take free shards up to ``share`` (and any shard free for a lease time), rebuilding their state."""
        wanted = [shard for shard in order if shard not in self.shards]
        if not wanted:
            return
        try:
            holders = await self.bus.lease_holders([lease_name(shard) for shard in wanted])
        except BusError as exc:
            log.warning("detector_leases_read_failed", error=str(exc))
            return
        now = time.monotonic()
        # A lease already in our name on a shard we do not own is ours to take too: a take that
        # failed half-way, or this consumer's lease from before a restart.
        free = [shard for shard, holder in zip(wanted, holders, strict=True) if holder in (None, self.consumer)]
        self._free_since = {shard: self._free_since.get(shard, now) for shard in free}
        limit = self.settings.max_shards
        for shard in free:
            if self._stopping():
                return  # stopping: take no new shard (owned leases are released on the way out)
            if limit and len(self.shards) >= limit:
                return
            orphaned = now - self._free_since[shard] >= self.settings.lease_ttl_s
            if len(self.shards) >= share and not orphaned:
                continue
            asked = time.monotonic()
            try:
                held = await self.bus.acquire_lease(lease_name(shard), self.consumer, self._ttl_ms)
            except BusError as exc:
                log.warning("detector_lease_take_failed", shard=shard, error=str(exc))
                continue
            if not held:
                continue  # another member was quicker
            self._free_since.pop(shard, None)
            try:
                await self._take(shard, asked + self.settings.lease_ttl_s * 0.9)
            except BusError as exc:
                log.warning("detector_shard_rebuild_failed", shard=shard, error=str(exc), hint="will retry")
                with contextlib.suppress(BusError):
                    await self.bus.release_lease(lease_name(shard), self.consumer)

    async def _take(self, shard: int, lease_until: float) -> None:
        """Rebuild ``shard``'s state from retained history with alerts suppressed, then own it.

        The first entry the consumer group hands out as new marks the boundary: everything
        before it was delivered to the previous owner. Of that, entries the previous owner
        left unacknowledged at the end (it died between read and ack) were never handled:
        they are adopted and handled live. Everything else before the boundary was handled
        and announced by the previous owner, so it is replayed silently (an adopted entry
        followed by handled ones was handled too: only its acknowledgement failed). The
        boundary and everything after are handled live, alerts included.
        """
        adopted = await self.bus.adopt_pending(shard, self.consumer)
        probe: list[EventEntry] = []
        while True:  # adopted entries come first (possibly twice: claimed, then as our own pending)
            batch = await self.bus.read_events([shard], self.consumer, count=self.settings.read_count, block_ms=0)
            fresh = [e for e in batch if e.entry_id not in adopted]
            if fresh or not batch:
                probe = fresh
                break
        boundary = entry_key(probe[0].entry_id) if probe else None
        started = began = time.monotonic()
        restored = await self._restore(shard, boundary)
        if restored is not None:
            engine, after = restored
            last: str | None = after
        else:
            engine = DetectionEngine(self.settings)
            after, last = "0", None
            if self.settings.rebuild_hours > 0:
                after = f"{max(0, int(time.time() * 1000 - self.settings.rebuild_hours * 3_600_000))}-0"
        count = 0
        held: list[EventEntry] = []  # adopted entries not (yet) followed by a handled one
        page_size = self.settings.rebuild_page
        feed = engine.feed
        done = False
        while not done:
            if self._stopping():  # stopping mid-rebuild: the shard is left to the next owner
                await self.bus.release_lease(lease_name(shard), self.consumer)
                return
            page = await self.bus.read_history(shard, after, page_size)
            for entry in page:
                if boundary is not None and entry_key(entry.entry_id) >= boundary:
                    done = True
                    break
                if entry.entry_id in adopted:
                    held.append(entry)
                    continue
                for handled in (*held, entry):  # alerts of the past were announced by the previous owner
                    for event in handled.events:
                        feed(event)
                    last = handled.entry_id
                    count += len(handled.events)
                held.clear()
            if not page or len(page) < page_size:
                break
            after = page[-1].entry_id
            if time.monotonic() - started > self.settings.lease_renew_s:  # a long rebuild keeps every lease
                asked = time.monotonic()
                if not await self.bus.acquire_lease(lease_name(shard), self.consumer, self._ttl_ms):
                    log.warning("detector_shard_lost_in_rebuild", shard=shard, hint="leaving the shard")
                    return
                lease_until = asked + self.settings.lease_ttl_s * 0.9
                await self._renew_owned()
                started = time.monotonic()
            await asyncio.sleep(0)
        if count:
            self.metrics.detector_events.labels(outcome="rebuilt").inc(count)
        self.shards[shard] = _Shard(engine, lease_until, last, time.monotonic() + self.settings.checkpoint_interval_s)
        firing = engine.firing()
        log.info(
            "detector_shard_acquired",
            shard=shard,
            checkpoint=restored[1] if restored is not None else None,
            rebuilt_events=count,
            rebuild_s=round(time.monotonic() - began, 3),
            adopted_entries=len(held),
            firing=[f"{f.kind}:{f.base}:{f.direction}" for f in firing],
        )
        self.metrics.shards_owned.set(len(self.shards))
        await self._handle([*held, *probe], self._stop)

    async def _restore(self, shard: int, boundary: tuple[int, int] | None) -> tuple[DetectionEngine, str] | None:
        """The engine restored from the shard's checkpoint and the entry id it covers; None to rebuild instead.

        A checkpoint that cannot be used (another format version or other detection settings, malformed,
        older than ``rebuild_hours``, or covering entries the previous owner never handled) is logged,
        counted and ignored: the state is then rebuilt from the retained history as without one.
        """
        try:
            data = await self.bus.load_checkpoint(lease_name(shard))
        except BusError as exc:
            log.warning("detector_checkpoint_unreadable", shard=shard, error=str(exc), fallback="rebuild from history")
            return None
        if data is None:
            return None
        try:
            engine, saved = restore_checkpoint(data, shard, boundary, self.settings, now_ms=int(time.time() * 1000))
        except checkpoint.CheckpointRefused as exc:
            self.metrics.checkpoints.labels(outcome=f"ignored_{exc.reason}").inc()
            log.warning(
                "detector_checkpoint_ignored",
                shard=shard,
                reason=exc.reason,
                error=str(exc),
                fallback="rebuild from history",
            )
            return None
        self.metrics.checkpoints.labels(outcome="restored").inc()
        return engine, saved.entry_id

    async def _checkpoint(self, shard: int, owned: _Shard, *, wait: bool = True) -> None:
        """Write the shard's detector state and the entry it covers (nothing new since the last one: nothing).

        The state is taken and encoded at once (a few ms of the loop); the write to the bus runs beside
        the read loop unless ``wait`` (a handover: the next owner starts from it). A shard has one write
        in flight at a time, so they land in order; one still in flight defers a due one (not ``wait``).
        """
        owned.next_checkpoint = time.monotonic() + self.settings.checkpoint_interval_s
        if owned.last_entry is None or owned.unsaved == 0 or not self._checkpoints:
            return
        previous = self._writes.get(shard)
        if previous is not None and not previous.done():
            if not wait:
                return
            await previous
        started = time.monotonic()
        saved = checkpoint.Checkpoint(
            version=checkpoint.VERSION,
            settings=self._fingerprint,
            shard=shard,
            entry_id=owned.last_entry,
            written_ms=int(time.time() * 1000),
            state=owned.engine.snapshot(),
        )
        data = checkpoint.encode(saved)
        unsaved, owned.unsaved = owned.unsaved, 0
        write = asyncio.create_task(
            self._store(shard, owned, data, entry_id=saved.entry_id, unsaved=unsaved, started=started)
        )
        self._writes[shard] = write
        if wait:
            await write

    async def _store(
        self, shard: int, owned: _Shard, data: bytes, *, entry_id: str, unsaved: int, started: float
    ) -> None:
        """Store an encoded checkpoint, fenced by the shard's lease.

        When another process holds the lease (this one was paused or cut off past it), nothing is
        written, the refusal is counted and the shard is given up. A failed write leaves its events
        unsaved, for the next interval.
        """
        try:
            stored = await self.bus.store_checkpoint(lease_name(shard), self.consumer, data)
        except BusError as exc:
            owned.unsaved += unsaved
            self.metrics.checkpoints.labels(outcome="write_failed").inc()
            log.warning("detector_checkpoint_write_failed", shard=shard, error=str(exc), retry="at the next interval")
            return
        if not stored:
            self.metrics.checkpoints.labels(outcome="fenced").inc()
            log.warning(
                "detector_checkpoint_fenced",
                shard=shard,
                entry_id=entry_id,
                hint="another detector holds the lease; giving the shard up",
            )
            if self.shards.get(shard) is owned:
                del self.shards[shard]
                self.metrics.shards_owned.set(len(self.shards))
            return
        self.metrics.checkpoints.labels(outcome="written").inc()
        log.debug(
            "detector_checkpoint_written",
            shard=shard,
            entry_id=entry_id,
            bytes=len(data),
            took_s=round(time.monotonic() - started, 4),
        )

    async def _save_due(self) -> None:
        """Checkpoint every owned shard with events handled since its last checkpoint that is due.

        Called after every read, empty ones included, so a shard that went quiet is still
        checkpointed once its interval has passed.
        """
        if not self._checkpoints:
            return
        events, interval = self.settings.checkpoint_events, self.settings.checkpoint_interval_s
        now = time.monotonic()
        for shard, owned in list(self.shards.items()):
            if not owned.unsaved or owned.lease_until < now:
                continue
            if (events and owned.unsaved >= events) or (interval and now >= owned.next_checkpoint):
                await self._checkpoint(shard, owned, wait=False)

    async def _release_all(self) -> None:
        with contextlib.suppress(BusError):  # the announcement expires on its own otherwise
            await self.bus.withdraw(MEMBERS_GROUP, self.consumer)
        for shard, owned in list(self.shards.items()):
            if owned.lease_until >= time.monotonic():
                await self._checkpoint(shard, owned)
            try:
                await self.bus.release_lease(lease_name(shard), self.consumer)
            except BusError as exc:
                log.warning("detector_lease_release_failed", shard=shard, error=str(exc), hint="it expires on its own")
        # Writes still in flight for shards given up meanwhile finish (or fail) before the runner returns.
        # _store handles bus errors itself; anything else it raised is a bug, logged rather than lost.
        for shard, outcome in zip(
            self._writes, await asyncio.gather(*self._writes.values(), return_exceptions=True), strict=True
        ):
            if isinstance(outcome, Exception):
                log.error("detector_checkpoint_write_crashed", shard=shard, error=repr(outcome))
        self._writes.clear()
        self.shards.clear()
        self.metrics.shards_owned.set(0)

    # ------------------------------------------------------------------ events

    async def _handle(self, batch: Sequence[EventEntry], stop: asyncio.Event) -> None:
        """Feed a batch of entries, publish their alerts, then acknowledge the entries."""
        if not batch:
            self._refresh_metrics()
            return
        handled: list[EventEntry] = []
        alerts: list[Alert] = []
        duplicates = 0
        engines: dict[int, DetectionEngine] = {}
        before: dict[int, dict[Outcome, int]] = {}
        latencies: list[float] = []  # of the processed events, observed once per batch
        now_s = time.time()
        now = time.monotonic()
        for entry in batch:
            owned = self.shards.get(entry.shard)
            if owned is None or owned.lease_until < now:
                continue  # no longer (surely) ours: it stays pending for the next owner
            handled.append(entry)
            if owned.last_entry is None or entry_key(entry.entry_id) > entry_key(owned.last_entry):
                owned.last_entry = entry.entry_id
            owned.unsaved += len(entry.events) or 1  # an entry with nothing decodable still moves the position
            if owned.rebuilt_upto is not None and entry_key(entry.entry_id) <= owned.rebuilt_upto:
                duplicates += len(entry.events)  # already in the rebuilt state
                continue
            engine = owned.engine
            if entry.shard not in engines:
                engines[entry.shard] = engine
                before[entry.shard] = dict(engine.counts)
            feed, latency = engine.feed, latencies.append
            for event in entry.events:
                raised = feed(event)
                if raised:
                    alerts += raised
                if engine.last_outcome == "processed":
                    age = now_s - event.ts_ms / 1000
                    latency(age if age > 0.0 else 0.0)
            # A read can hold thousands of events: let the rest of the process (venue readers, the
            # publisher, when all roles share one loop) run between entries.
            await asyncio.sleep(0)
        self.metrics.decision_latency.observe_many(latencies)
        # Counted per batch from the engines' own tallies: a labelled counter update per event costs too much.
        outcomes: dict[str, int] = {"duplicate": duplicates}
        for shard, engine in engines.items():
            for outcome, total in engine.counts.items():
                outcomes[outcome] = outcomes.get(outcome, 0) + total - before[shard][outcome]
        for label, count in outcomes.items():
            if count:
                self.metrics.detector_events.labels(outcome=label).inc(count)
        for alert in alerts:
            if not await self._publish(alert, stop):
                return  # stopped while the bus is down: leave the batch pending for redelivery
        if handled:
            try:
                await self.bus.ack_events(handled)
            except BusError as exc:
                log.warning(
                    "detector_ack_failed", error=str(exc), hint="the events will be redelivered and deduplicated"
                )
        self._refresh_metrics(force=bool(alerts))

    async def _publish(self, alert: Alert, stop: asyncio.Event) -> bool:
        """Publish with retries while the bus is unavailable; False when stopped before it worked."""
        delays = _backoff()
        while True:
            try:
                await self.bus.publish_alert(alert)
            except BusUnavailable as exc:
                if stop.is_set():
                    log.error(
                        "alert_unpublished_at_shutdown",
                        alert_id=alert.id,
                        kind=alert.kind,
                        base=alert.base,
                        error=str(exc),
                    )
                    return False
                log.warning("alert_publish_failed", alert_id=alert.id, error=str(exc), hint="retrying")
                await sleep_or_stop(stop, next(delays))
                continue
            break
        self.published += 1
        self.metrics.alerts_raised.labels(kind=alert.kind, severity=alert.severity, status=alert.status).inc()
        log.info(
            "alert_raised",
            alert_id=alert.id,
            kind=alert.kind,
            status=alert.status,
            severity=alert.severity,
            base=alert.base,
            venue=alert.venue,
            direction=alert.direction,
            summary=alert.summary,
        )
        return True

    def _refresh_metrics(self, *, force: bool = False) -> None:
        """Detector state and cascade window gauges of the tracked assets, at most once a second."""
        now = time.monotonic()
        if not force and now < self._next_metrics:
            return
        self._next_metrics = now + _METRICS_INTERVAL_S
        metrics = self.metrics
        for owned in self.shards.values():
            engine = owned.engine
            for kind, base, direction, value in engine.states():
                label = metrics.base_label(base)
                if label == OTHER:
                    continue
                metrics.detector_state.labels(kind=kind, base=label, direction=direction).set(value)
            for base in engine.assets:
                label = metrics.base_label(base)
                if label == OTHER:
                    continue
                for direction in ("long", "short"):
                    metrics.cascade_window_usd.labels(base=label, direction=direction).set(
                        engine.cascade_window_usd(base, direction)
                    )


def restore_checkpoint(
    data: bytes, shard: int, boundary: tuple[int, int] | None, settings: DetectorSettings, *, now_ms: int
) -> tuple[DetectionEngine, checkpoint.Checkpoint]:
    """A fresh engine restored from shard ``shard``'s stored checkpoint, and the checkpoint.

    Raises :class:`~monitor.detectors.checkpoint.CheckpointRefused` when it cannot be used: another
    format version or other detection settings, malformed, another shard's, older than
    ``rebuild_hours`` (``stale``), or covering entries at or after ``boundary`` — the first entry the
    previous owner never got (``ahead``).
    """
    saved = checkpoint.decode(data, settings)
    covered = entry_key(saved.entry_id)
    if saved.shard != shard:
        raise checkpoint.CheckpointRefused("decode", f"checkpoint of shard {saved.shard} stored for shard {shard}")
    if settings.rebuild_hours > 0 and covered[0] < now_ms - settings.rebuild_hours * 3_600_000:
        raise checkpoint.CheckpointRefused("stale", "checkpoint older than detectors.rebuild_hours")
    if boundary is not None and covered >= boundary:
        raise checkpoint.CheckpointRefused("ahead", "checkpoint covers entries the previous owner never handled")
    engine = DetectionEngine(settings)
    try:
        engine.restore(saved.state)
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # msgspec.ValidationError is a ValueError
        raise checkpoint.CheckpointRefused("decode", f"checkpoint state does not restore: {exc!r}") from None
    return engine, saved


def _backoff() -> Iterator[float]:
    return backoff(_RETRY_INITIAL_S, _RETRY_CAP_S, 2.0)


__all__ = ["MEMBERS_GROUP", "DetectorRunner", "entry_key", "lease_name", "restore_checkpoint"]
