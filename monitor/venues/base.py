"""The one connection loop every venue runs: connect, subscribe, keep alive, read, reconnect.

:class:`FeedLoop` owns one :class:`~monitor.venues.adapter.Connection` for its
whole life. Per socket it

* opens the websocket (``proxy=None``, ``max_size`` the venue's
  ``max_frame_bytes``, the connection's extra headers) and sends the subscribe
  frames; a larger message closes the socket with 1009 before it is read,
  and is counted as a frame dropped for reason ``too_large``;
* keeps it alive the venue's way (``server_ping``: our own protocol pings, the
  pongs prove the TCP path; ``client_ping``: ``adapter.ping_payload()`` every
  interval; ``answer_server``: answers whatever ``adapter.reply`` says);
* reads under a liveness deadline (``asyncio.timeout``) pushed forward by every
  frame and every pong, so a quiet but healthy liquidation feed stays up while a
  dead one is dropped as ``stale``;
* before the venue's maximum connection age, opens and subscribes a second
  socket and closes the first only once the new one delivers data (duplicates
  from the overlap are dropped by id in :class:`~monitor.venues.feed.FeedSink`).

Every connect (first, planned or after a drop) waits for the venue's
:class:`~monitor.venues.governor.Governor`, and the subscribe frames and pings
go out through the socket's pacer, within the venue's documented limits.
After a disconnect it publishes a :class:`~monitor.events.Gap`, waits a
jittered, capped delay from :class:`~monitor.venues.backoff.BackoffPolicy`
(reset only by a connection that lived ``healthy_after_s``, so a server that
accepts and closes, or drops every client after a few seconds, cannot make it
spin) and reconnects, resubscribing with a reset adapter. A
rejected subscription is logged as an error and retried after
``rejected_s``. Tests shorten every timer through :class:`LoopOptions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from monitor.aio import sleep_or_stop
from monitor.errors import SubscriptionRejected
from monitor.logs import get_logger
from monitor.venues.adapter import Connection, Keepalive, VenueAdapter
from monitor.venues.backoff import BackoffPolicy
from monitor.venues.feed import FeedSink, now_ms
from monitor.venues.governor import Governor, GovernorOptions, SocketPacer

log = get_logger(__name__)

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class LoopOptions:
    """Timers of the loop; None means "the adapter's value". Tests use millisecond-scale values."""

    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    keepalive: Keepalive | None = None
    liveness_timeout_s: float | None = None
    # math.inf disables planned reconnects.
    max_connection_age_s: float | None = None
    # Planned reconnects happen this long before the venue's cut-off (at most 10% of the age earlier).
    planned_margin_s: float = 300.0
    # How long the old socket stays open waiting for the new one's first data frame.
    overlap_timeout_s: float = 15.0
    open_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    # Largest message accepted (bytes); None: the adapter's max_frame_bytes.
    max_size: int | None = None
    # Pacing where the venue documents no limit (the documented limits come from the adapter's spec).
    governor: GovernorOptions = field(default_factory=GovernorOptions)


class FeedLoop:
    """Keeps one venue connection open and flowing until ``stop`` is set."""

    def __init__(
        self,
        adapter_factory: Callable[[], VenueAdapter],
        connection: Connection,
        sink: FeedSink,
        options: LoopOptions | None = None,
        *,
        on_change: Callable[[], None] | None = None,
        governor: Governor | None = None,
    ) -> None:
        self._factory = adapter_factory
        self.adapter = adapter_factory()
        self.venue = self.adapter.name
        self.connection = connection
        self.sink = sink
        self.options = options or LoopOptions()
        # Shared by every connection of the venue (the per-IP limits); a lone loop gets its own.
        self.governor = governor or Governor(self.adapter.limits, self.options.governor)
        self._on_change = on_change
        self.label = connection.label or f"{self.venue}-{next(_ids)}"
        self.open_sockets = 0
        self.connects = 0
        self.disconnects: list[str] = []
        self._log = log.bind(venue=self.venue, connection=self.label)

    # -- derived settings ---------------------------------------------------------------------
    @property
    def keepalive(self) -> Keepalive:
        """The keepalive in force (option override or the adapter's)."""
        return self.options.keepalive or self.adapter.keepalive

    @property
    def liveness_s(self) -> float:
        """Seconds without any frame or pong after which the socket counts as dead."""
        value = self.options.liveness_timeout_s
        return value if value is not None else self.adapter.liveness_timeout_s

    def _planned_after(self) -> float | None:
        age = self.options.max_connection_age_s
        if age is None:
            age = self.adapter.max_connection_age_s
        if age is None or math.isinf(age):
            return None
        return max(age * 0.9, age - self.options.planned_margin_s)

    @property
    def max_frame_bytes(self) -> int:
        """Largest message accepted on this connection (option override or the venue's bound)."""
        return self.options.max_size or self.adapter.max_frame_bytes

    @property
    def is_open(self) -> bool:
        """True while at least one socket of this loop is open and subscribed."""
        return self.open_sockets > 0

    # -- main loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Connect and reconnect until ``stop`` is set; closes the socket before returning."""
        policy = self.options.backoff
        delays: Iterator[float] = policy.start()
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            reason, opened = await self._connected(stop)
            if stop.is_set():
                break
            if opened:
                self.disconnects.append(reason)
                self.sink.metrics.feed_reconnects.labels(venue=self.venue, reason=reason).inc()
                self.sink.gap(reason, self.connection.bases)
            if reason == "rejected":
                delay = policy.rejected_s
            else:
                if opened and loop.time() - started >= policy.healthy_after_s:
                    delays = policy.start()
                delay = next(delays)
            self._log.info("venue_reconnect_wait", reason=reason, delay_s=round(delay, 3))
            await sleep_or_stop(stop, delay)

    async def _connected(self, stop: asyncio.Event) -> tuple[str, bool]:
        """One connected phase (possibly spanning planned socket switches): (reason it ended, was open)."""
        finished = await self.governor.connect(stop)
        if finished is None:
            return "stopped", False
        try:
            ws, pacer = await self._open(self.adapter, stop, first=True, finished=finished)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if 400 <= status < 500 and status != 429:
                self._log.error(
                    "venue_handshake_refused",
                    url=self.connection.url,
                    status=status,
                    hint="check venues.<name>.ws_url",
                    retry_in_s=self.options.backoff.rejected_s,
                )
                return "rejected", False
            self._log.warning("venue_connect_failed", url=self.connection.url, status=status)
            return "error", False
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
            self._log.warning("venue_connect_failed", url=self.connection.url, error=_describe(exc))
            return "error", False
        session = _Socket(self, ws, self.adapter, pacer, stop)
        task = asyncio.create_task(session.serve(), name=f"{self.label}-read")
        try:
            planned = self._planned_after()
            while True:
                ended = await _first(task, stop, planned)
                if ended == "stop":
                    await session.close(1000, "client shutdown")
                    await _quietly(task)
                    return "stopped", True
                if ended == "task":
                    return task.result(), True
                # The age limit is near: switch to a fresh socket without a hole.
                switched = await self._switch(session, task, stop)
                if switched is None:
                    planned = self.options.overlap_timeout_s  # try again a little later
                    continue
                session, task = switched
                planned = self._planned_after()
        finally:
            if not task.done():
                task.cancel()
            await _quietly(task)
            await session.close(1000, "client shutdown")

    async def _switch(
        self, old: _Socket, old_task: asyncio.Task[str], stop: asyncio.Event
    ) -> tuple[_Socket, asyncio.Task[str]] | None:
        adapter = self._factory()
        adapter.instruments = self.adapter.instruments
        finished = await self.governor.connect(stop)
        if finished is None:
            return None
        try:
            ws, pacer = await self._open(adapter, stop, first=False, finished=finished)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
            self._log.warning("venue_planned_reconnect_failed", error=_describe(exc))
            return None
        new = _Socket(self, ws, adapter, pacer, stop)
        new_task = asyncio.create_task(new.serve(), name=f"{self.label}-read")
        waiter = asyncio.create_task(new.first_data.wait())
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait(
                {waiter, stopper, new_task, old_task},
                timeout=self.options.overlap_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for helper in (waiter, stopper):
                await _quietly(helper)
        if new_task.done():
            self._log.warning("venue_planned_reconnect_failed", error=f"new socket ended: {new_task.result()}")
            return None
        await old.close(1000, "planned reconnect")
        await _quietly(old_task)
        self.adapter = adapter
        self.sink.metrics.feed_reconnects.labels(venue=self.venue, reason="planned").inc()
        self._log.info("venue_planned_reconnect_done")
        return new, new_task

    async def _open(
        self, adapter: VenueAdapter, stop: asyncio.Event, *, first: bool, finished: Callable[[], None]
    ) -> tuple[ClientConnection, SocketPacer]:
        """Open and subscribe one socket, the subscribe frames paced within the venue's limits."""
        opts = self.options
        try:
            ws = await connect(
                self.connection.url,
                proxy=None,
                open_timeout=opts.open_timeout_s,
                close_timeout=opts.close_timeout_s,
                ping_interval=None,  # keepalive is ours (see _Socket._keepalive)
                ping_timeout=None,
                max_size=self.max_frame_bytes,
                additional_headers=list(self.connection.headers) or None,
            )
        finally:
            finished()
        if first:
            adapter.reset()
        pacer = self.governor.socket()
        try:
            for message in self.connection.subscribe:
                await pacer.send(ws, adapter.outgoing(message), stop, subscribe=True)
        except ConnectionClosed:
            await ws.close()
            raise
        self.connects += 1
        self._log.info("venue_connected", url=self.connection.url, subscriptions=len(self.connection.subscribe))
        return ws, pacer

    def _changed(self, delta: int) -> None:
        self.open_sockets += delta
        self.sink.metrics.feed_connected.labels(venue=self.venue).inc(delta)
        if self._on_change is not None:
            self._on_change()


class _Socket:
    """One open websocket: reads frames, keeps alive, answers heartbeats."""

    def __init__(
        self, owner: FeedLoop, ws: ClientConnection, adapter: VenueAdapter, pacer: SocketPacer, stop: asyncio.Event
    ) -> None:
        self.owner = owner
        self.ws = ws
        self.adapter = adapter
        self.pacer = pacer
        self.stop = stop
        self.first_data = asyncio.Event()
        self._deadline: asyncio.Timeout | None = None
        self._counted = False
        self._closing = False

    def _alive(self) -> None:
        if self._deadline is not None:
            self._deadline.reschedule(asyncio.get_running_loop().time() + self.owner.liveness_s)

    async def close(self, code: int, reason: str) -> None:
        self._closing = True
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)
        self._uncount()

    def _uncount(self) -> None:
        if self._counted:
            self._counted = False
            self.owner._changed(-1)

    async def serve(self) -> str:
        """Read until the socket ends; returns the reason (closed, error, stale, rejected)."""
        owner, sink, ws = self.owner, self.owner.sink, self.ws
        self._counted = True
        owner._changed(+1)
        pinger = asyncio.create_task(self._keepalive())
        try:
            async with asyncio.timeout(None) as deadline:
                self._deadline = deadline
                self._alive()
                while True:
                    frame = await ws.recv()
                    self._alive()
                    answer = self._reply(frame)
                    if answer is not None:
                        await ws.send(answer)
                    if sink.frame(self.adapter, frame, now_ms()):
                        self.first_data.set()
        except TimeoutError:
            owner._log.warning("venue_stale", silent_s=owner.liveness_s)
            ws.transport.abort()  # a dead peer would never finish the closing handshake
            return "stale"
        except SubscriptionRejected as exc:
            owner._log.error(
                "venue_subscription_rejected",
                error=str(exc),
                hint="check the symbols configured for this venue",
                retry_in_s=owner.options.backoff.rejected_s,
            )
            return "rejected"
        except ConnectionClosed as exc:
            # int(): the library's close codes are an IntEnum, which console logs would show by name
            code = int(exc.rcvd.code if exc.rcvd is not None else (exc.sent.code if exc.sent is not None else 1006))
            if exc.sent is not None and exc.sent.code == 1009:  # we refused a message past max_size
                sink.metrics.feed_parse_errors.labels(venue=owner.venue, reason="too_large").inc()
                owner._log.warning("venue_frame_too_large", limit_bytes=owner.max_frame_bytes, detail=_describe(exc))
                return "error"
            if self._closing:
                owner._log.info("venue_socket_closed", code=code)
                return "closed"
            owner._log.warning("venue_disconnected", code=code, detail=_describe(exc))
            return "error" if code == 1009 else "closed"
        except OSError as exc:
            owner._log.warning("venue_socket_error", error=_describe(exc))
            return "error"
        finally:
            self._deadline = None
            pinger.cancel()
            await _quietly(pinger)
            self._uncount()
            with contextlib.suppress(Exception):
                await ws.close()

    def _reply(self, frame: str | bytes) -> str | None:
        try:
            return self.adapter.reply(frame)
        except Exception as exc:  # a heartbeat bug must not take the feed down
            self.owner.sink.metrics.feed_parse_errors.labels(venue=self.owner.venue, reason="internal").inc()
            self.owner._log.error("venue_reply_failed", error=_describe(exc))
            return None

    async def _keepalive(self) -> None:
        keepalive = self.owner.keepalive
        if keepalive.mode == "answer_server" or keepalive.interval_s <= 0:
            return
        while True:
            await asyncio.sleep(keepalive.interval_s)
            if keepalive.mode == "server_ping":
                pong = await self.ws.ping()
                await pong  # the liveness deadline bounds the wait
                self._alive()
            else:
                payload = self.adapter.ping_payload()
                if payload is not None:
                    await self.pacer.send(self.ws, payload, self.stop)


async def _first(task: asyncio.Task[str], stop: asyncio.Event, after_s: float | None) -> str:
    """Wait for the read task to end, ``stop``, or ``after_s`` seconds: returns task / stop / age."""
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, timeout=after_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        await _quietly(stopper)
    if stop.is_set():
        return "stop"
    if task in done:
        return "task"
    return "age"


async def _quietly(task: asyncio.Task[Any]) -> None:
    """Await a finished or cancelled helper task, keeping our own cancellation intact."""
    if not task.done():
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:
        pass


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
