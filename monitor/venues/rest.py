"""REST side of a venue: instrument lists (with the disk cache) and rate-limit-aware polling.

Requests are :class:`~monitor.venues.spec.RestRequest` values from the
venue's spec (method, path relative to the venue's REST base URL, body).

Rate limits: the Binance ``X-MBX-USED-WEIGHT-1M`` header feeds
``liqmon_rest_weight_used`` and slows polling once the weight used passes
``slow_at`` of the budget; ``429`` waits for ``Retry-After``; ``418`` (an IP
ban for ignoring 429s) waits far longer and logs an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from monitor.aio import sleep_or_stop
from monitor.errors import ParseError
from monitor.logs import Throttle, get_logger
from monitor.metrics import Metrics
from monitor.venues.adapter import RestPoll, VenueAdapter
from monitor.venues.backoff import BackoffPolicy
from monitor.venues.feed import FeedSink, now_ms
from monitor.venues.instruments import InstrumentBook
from monitor.venues.spec import RestRequest

log = get_logger(__name__)

WEIGHT_HEADERS = ("x-mbx-used-weight-1m",)


@dataclass(frozen=True, slots=True)
class RestOptions:
    """Timers and limits of REST access; tests shrink them."""

    timeout_s: float = 10.0
    # Per-venue weight budget per window (Binance: 2400 per minute) and where to slow down.
    weight_budget: int = 2400
    weight_window_s: float = 60.0
    slow_at: float = 0.8
    default_retry_after_s: float = 60.0
    ban_wait_s: float = 600.0
    instrument_refresh_s: float = 6 * 3600.0
    backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(initial_s=1.0, min_s=2.0, max_s=300.0))


@dataclass(frozen=True, slots=True)
class RestResult:
    """One response: status (0 for a network error), body, and the wait it asks for (seconds)."""

    status: int
    body: bytes
    wait_s: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        """True for a 2xx response."""
        return 200 <= self.status < 300


class RestClient:
    """GET/POST against one venue's REST base URL, counting statuses and tracking weight."""

    def __init__(
        self, venue: str, base_url: str, client: httpx.AsyncClient, metrics: Metrics, options: RestOptions | None = None
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.metrics = metrics
        self.options = options or RestOptions()
        self.weight_used = 0
        self._throttle = Throttle()

    async def fetch(self, request: RestRequest | str) -> RestResult:
        """Send ``request`` (a bare path is a GET); never raises for HTTP or network problems."""
        if isinstance(request, str):
            request = RestRequest(request)
        path = request.path
        try:
            response = await self.client.request(
                request.method,
                self.base_url + path,
                content=request.body,
                headers={"Content-Type": "application/json"} if request.body is not None else None,
                timeout=self.options.timeout_s,
            )
        except httpx.HTTPError as exc:
            self._count("error")
            return RestResult(0, b"", error=f"{type(exc).__name__}: {exc}")
        status = response.status_code
        self._weight(response.headers)
        if status == 429:
            self._count("429")
            wait = _retry_after(response.headers, self.options.default_retry_after_s)
            self._warn("venue_rest_rate_limited", path=path, status=status, retry_after_s=wait)
            return RestResult(status, response.content, wait_s=wait)
        if status == 418:
            self._count("418")
            wait = max(_retry_after(response.headers, 0.0), self.options.ban_wait_s)
            log.error(
                "venue_rest_banned",
                venue=self.venue,
                path=path,
                retry_after_s=wait,
                hint="the venue banned this IP for ignoring 429s; polling paused",
            )
            return RestResult(status, response.content, wait_s=wait)
        self._count(f"{status // 100}xx")
        if not 200 <= status < 300:
            self._warn("venue_rest_failed", path=path, status=status, body=response.text[:200])
        return RestResult(status, response.content)

    def pace_s(self) -> float:
        """Extra wait before the next request when the weight used nears the budget."""
        opts = self.options
        if self.weight_used >= opts.slow_at * opts.weight_budget:
            return opts.weight_window_s - (time.time() % opts.weight_window_s)
        return 0.0

    def _weight(self, headers: httpx.Headers) -> None:
        for name in WEIGHT_HEADERS:
            value = headers.get(name)
            if value is not None:
                with contextlib.suppress(ValueError):
                    self.weight_used = int(value)
                    self.metrics.rest_weight_used.labels(venue=self.venue).set(self.weight_used)

    def _count(self, status: str) -> None:
        self.metrics.rest_requests.labels(venue=self.venue, status=status).inc()

    def _warn(self, event: str, **fields: object) -> None:
        held = self._throttle.allow(event)
        if held is not None:
            log.warning(event, venue=self.venue, similar_suppressed=held, **fields)


def _retry_after(headers: httpx.Headers, default: float) -> float:
    value = headers.get("retry-after")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed is not None else default


async def load_instruments(
    adapter: VenueAdapter, rest: RestClient, cache_dir: str | Path, sink: FeedSink | None = None
) -> int:
    """Fetch the adapter's instrument lists into its book; fall back to the disk cache.

    Returns the number of instruments in the book afterwards. A successful
    fetch refreshes the cache; when every fetch fails the cached book is used
    so a restart without network still normalizes.
    """
    requests = adapter.instrument_requests()
    fetched = 0
    for request in requests:
        path = request.path
        result = await rest.fetch(request)
        if not result.ok:
            log.warning(
                "venue_instruments_unavailable", venue=adapter.name, path=path, status=result.status, error=result.error
            )
            continue
        try:
            fetched += adapter.load_instruments(path, result.body)
        except ParseError as exc:
            rest.metrics.feed_parse_errors.labels(venue=adapter.name, reason=exc.reason).inc()
            log.warning("venue_instruments_unreadable", venue=adapter.name, path=path, error=str(exc))
            continue
        if sink is not None:
            sink.meta(path, result.body, now_ms())
    book = adapter.instruments
    if fetched:
        try:
            book.save(cache_dir)
        except OSError as exc:
            log.warning("instrument_cache_not_written", venue=adapter.name, cache_dir=str(cache_dir), error=str(exc))
        log.info("venue_instruments_loaded", venue=adapter.name, instruments=len(book))
    elif requests:
        cached = InstrumentBook.load(adapter.name, cache_dir)
        if cached is not None and len(book) == 0:
            book.update(cached)
            log.warning(
                "venue_instruments_from_cache", venue=adapter.name, instruments=len(book), cache_dir=str(cache_dir)
            )
        elif cached is None and len(book) == 0:
            log.error(
                "venue_instruments_missing",
                venue=adapter.name,
                cache_dir=str(cache_dir),
                hint="contract sizes unknown: notionals will be null until the venue's REST API answers",
            )
    return len(book)


class RestPoller:
    """Polls an adapter's REST endpoints on their cadence and feeds the bodies to the sink.

    First polls are spread evenly over each poll's interval (hundreds of symbols never fall due at
    once), and :meth:`replan` takes a new poll list (instruments listed since the start get polled).
    """

    def __init__(
        self,
        adapter: VenueAdapter,
        rest: RestClient,
        sink: FeedSink,
        polls: list[RestPoll],
        *,
        sleep: Callable[[asyncio.Event, float], Awaitable[None]] | None = None,
    ) -> None:
        self.adapter = adapter
        self.rest = rest
        self.sink = sink
        self.polls: dict[str, RestPoll] = {}
        # When each poll is next due (event-loop time), by path.
        self.due: dict[str, float] = {}
        self._sleep = sleep or sleep_or_stop
        self.waits: list[tuple[int, float]] = []
        self._pending = polls

    def replan(self, polls: list[RestPoll]) -> None:
        """Poll these from now on: kept ones keep their schedule, new ones are spread over their interval."""
        now = asyncio.get_running_loop().time()
        fresh = [p for p in polls if p.path not in self.due]
        self.polls = {p.path: p for p in polls}
        self.due = {path: due for path, due in self.due.items() if path in self.polls}
        for index, poll in enumerate(fresh):
            self.due[poll.path] = now + poll.interval_s * index / len(fresh)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll each endpoint at most once per its interval, until ``stop``."""
        self.replan(self._pending)
        if not self.polls:
            return
        loop = asyncio.get_running_loop()
        delays = self.rest.options.backoff.start()
        while not stop.is_set():
            due = self.due
            if not due:
                await self._sleep(stop, 1.0)
                continue
            path = min(due, key=due.__getitem__)
            wait = due[path] - loop.time()
            if wait > 0:
                await self._sleep(stop, min(wait, 1.0))  # a replan may bring an earlier poll
                continue
            poll = self.polls[path]
            result = await self.rest.fetch(poll.path)
            if result.ok:
                delays = self.rest.options.backoff.start()
                self.sink.rest(self.adapter, poll.path, result.body, now_ms())
                if path in due:
                    due[path] = loop.time() + poll.interval_s
                extra = self.rest.pace_s()
            elif result.wait_s > 0:  # 429 / 418: the venue said how long
                extra = result.wait_s
            else:  # network error or 5xx/4xx: back off
                extra = next(delays)
            if extra > 0:
                self.waits.append((result.status, extra))
                await self._sleep(stop, extra)


async def refresh_instruments(
    adapter: VenueAdapter,
    rest: RestClient,
    cache_dir: str | Path,
    sink: FeedSink | None,
    stop: asyncio.Event,
    *,
    on_refresh: Callable[[], None] | None = None,
) -> None:
    """Reload the instrument lists every ``instrument_refresh_s`` until ``stop``; then call ``on_refresh``."""
    while not stop.is_set():
        await sleep_or_stop(stop, rest.options.instrument_refresh_s)
        if not stop.is_set():
            await load_instruments(adapter, rest, cache_dir, sink)
            if on_refresh is not None:
                on_refresh()
