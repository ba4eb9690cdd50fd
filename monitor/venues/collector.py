"""The collect role: every enabled venue's connections and REST polls, feeding the bus.

For each enabled venue the collector loads the instrument lists (REST, else
the disk cache), picks the symbols (configured, or every perpetual in the
book), asks the adapter how to split them into connections, and runs one
:class:`~monitor.venues.base.FeedLoop` per connection plus the REST poller
and the periodic instrument refresh, all inside one ``asyncio.TaskGroup``.
Events go to ``bus.publish`` one batch per frame. With ``capture`` every
frame, REST body, instrument list and gap is also written to a capture file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from monitor.aio import sleep_or_stop
from monitor.capture.format import CaptureWriter
from monitor.feedwatch import FeedStatus
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.settings import Settings
from monitor.venues.adapter import VenueAdapter
from monitor.venues.base import FeedLoop, LoopOptions
from monitor.venues.config import VenueSettings
from monitor.venues.dedup import RecentIds
from monitor.venues.feed import FeedSink, Publisher
from monitor.venues.governor import Governor
from monitor.venues.instruments import InstrumentBook
from monitor.venues.registry import VENUES, adapter_class
from monitor.venues.rest import (
    RestClient,
    RestOptions,
    RestPoller,
    load_instruments,
    refresh_instruments,
)

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CollectorOptions:
    """Tuning seams of the collector (tests shorten every timer)."""

    loop: LoopOptions = field(default_factory=LoopOptions)
    rest: RestOptions = field(default_factory=RestOptions)
    # Per venue: a replacement adapter class (tests give one with a different keepalive).
    adapters: dict[str, type[VenueAdapter]] = field(default_factory=dict)
    # How long to wait between instrument fetch attempts while a venue has no symbols at all.
    no_symbols_retry_s: float = 30.0


class Collector:
    """Runs the venue connections of every enabled venue until stopped."""

    def __init__(
        self,
        settings: Settings,
        bus: Publisher,
        metrics: Metrics,
        *,
        capture: CaptureWriter | None = None,
        options: CollectorOptions | None = None,
        venues: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.metrics = metrics
        self.capture = capture
        self.options = options or CollectorOptions()
        wanted = list(venues) if venues is not None else list(VENUES)
        self.venues = [v for v in wanted if self._venue_settings(v).enabled]
        for venue in self.venues:
            metrics.feed_configured.labels(venue=venue).set(1)
        self.loops: dict[str, list[FeedLoop]] = {v: [] for v in self.venues}
        self.sinks: dict[str, FeedSink] = {}
        self.pollers: dict[str, RestPoller] = {}
        self._changed = asyncio.Event()

    def _venue_settings(self, venue: str) -> VenueSettings:
        return self.settings.venues.of(venue)

    # -- state --------------------------------------------------------------------------------
    def feed_status(self) -> dict[str, FeedStatus]:
        """Every enabled venue: an open connection, its last frame (wall clock, ms) and liveness timeout."""
        last = self.metrics.market.last_message
        out: dict[str, FeedStatus] = {}
        for venue in self.venues:
            seen = last.get(venue)
            cls = self.options.adapters.get(venue) or adapter_class(venue)
            out[venue] = FeedStatus(
                connected=any(loop.is_open for loop in self.loops[venue]),
                last_message_ms=None if seen is None else int(seen * 1000),
                liveness_timeout_s=cls.liveness_timeout_s,
            )
        return out

    def ready(self) -> bool:
        """True when every enabled venue has at least one open connection."""
        return bool(self.venues) and all(any(loop.is_open for loop in self.loops[v]) for v in self.venues)

    def connected_venues(self) -> list[str]:
        """Venues that have had at least one websocket open since the collector started."""
        return [v for v in self.venues if any(loop.connects for loop in self.loops[v])]

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until :meth:`ready` (or ``timeout`` seconds); returns :meth:`ready`."""
        try:
            async with asyncio.timeout(timeout):
                while not self.ready():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass
        return self.ready()

    def _notify(self) -> None:
        self._changed.set()

    # -- run ----------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Connect every enabled venue; returns once ``stop`` is set and the sockets are closed."""
        if not self.venues:
            log.warning("collector_no_venues", hint="enable at least one [venues.<name>] section")
            await stop.wait()
            return
        async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as http, asyncio.TaskGroup() as group:
            for venue in self.venues:
                group.create_task(self._run_venue(venue, http, stop), name=f"venue-{venue}")
        if self.capture is not None:
            self.capture.flush()

    async def _run_venue(self, venue: str, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        conf = self._venue_settings(venue)
        cls = self.options.adapters.get(venue) or adapter_class(venue)
        book = InstrumentBook(venue)
        adapter = cls(book)
        sink = FeedSink(venue, self.bus, self.metrics, capture=self.capture, dedup=RecentIds())
        self.sinks[venue] = sink
        rest = RestClient(venue, conf.rest_url or cls.rest_url, http, self.metrics, self.options.rest)
        cache_dir = self.settings.venues.cache_dir
        symbols = list(conf.symbols) or list(cls.spec.default_symbols)
        while not stop.is_set():
            await load_instruments(adapter, rest, cache_dir, sink)
            self._issues(sink, adapter)
            connections = adapter.connections(symbols, conf.ws_url)
            self._issues(sink, adapter)
            if connections:
                break
            log.error(
                "venue_nothing_to_subscribe",
                venue=venue,
                retry_in_s=self.options.no_symbols_retry_s,
                hint=f"set venues.{venue}.symbols or let the venue's instrument list load",
            )
            await sleep_or_stop(stop, self.options.no_symbols_retry_s)
        else:
            return
        log.info("venue_starting", venue=venue, connections=len(connections), symbols=len(symbols) or "all perpetuals")

        def factory() -> VenueAdapter:
            return cls(book)

        governor = Governor(cls.limits, self.options.loop.governor)
        loops = [
            FeedLoop(factory, conn, sink, self.options.loop, on_change=self._notify, governor=governor)
            for conn in connections
        ]
        self.loops[venue] = loops
        poller = RestPoller(adapter, rest, sink, adapter.rest_polls(symbols))
        self.pollers[venue] = poller
        async with asyncio.TaskGroup() as group:
            for loop in loops:
                group.create_task(loop.run(stop), name=f"{venue}-{loop.label}")
            group.create_task(poller.run(stop), name=f"{venue}-rest")
            if adapter.instrument_requests():
                group.create_task(
                    refresh_instruments(
                        adapter,
                        rest,
                        cache_dir,
                        sink,
                        stop,
                        on_refresh=lambda: poller.replan(adapter.rest_polls(symbols)),
                    ),
                    name=f"{venue}-refresh",
                )

    def _issues(self, sink: FeedSink, adapter: VenueAdapter) -> None:
        for reason, message in adapter.drain_issues():
            counter = (
                self.metrics.unknown_contract.labels(venue=sink.venue)
                if reason == "unknown_contract"
                else self.metrics.feed_parse_errors.labels(venue=sink.venue, reason=reason)
            )
            counter.inc()
            log.warning("venue_setup_problem", venue=sink.venue, reason=reason, detail=message)
