"""One simulated venue: a websocket server, its REST endpoints, capture playback and faults.

Playback sends the venue's capture frames in order, paced by ``recv_ms`` at
``speed`` (None: as fast as possible) or, with ``wall_clock``, each at the
epoch instant its ``recv_ms`` names (latency runs, whose frames carry future
timestamps), each only to clients subscribed to the frame's topic (the
protocol module decides). A frame nobody is subscribed to waits up to
``hold_timeout_s`` for a subscriber (a client reconnecting after a drop gets
it), then is skipped and counted. Keepalive rules are enforced: a client that
does not ping within ``drop_after_s`` is closed; server-ping venues close
clients that do not answer pings; heartbeat venues close clients that leave a
``test_request`` unanswered.

The venue's documented limits (its spec's :class:`~monitor.venues.spec.VenueLimits`)
are enforced too, and every breach is recorded in ``stats.violations``: a
connection over the per-IP connection rate gets HTTP 429 at the handshake; a
subscribe over the per-connection rate, or past the topics a connection may
carry, gets the venue's error reply; a client sending messages faster than the
venue allows is closed (1008), as the venues do.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from monitor.capture.format import CaptureRecord
from monitor.logs import get_logger
from monitor.sim.faults import (
    AcceptThenClose,
    Close,
    Delay,
    Fault,
    Garbage,
    Oversize,
    RejectSubscriptions,
    RestError,
    Silence,
)
from monitor.sim.httpd import HttpRequest, HttpResponse, start_http
from monitor.sim.protocols.base import Client, VenueProtocol, dumps, loads
from monitor.venues.governor import Window
from monitor.venues.registry import spec_of
from monitor.venues.spec import Rate, VenueLimits

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SimOptions:
    """How a simulator plays and polices; tests shorten the timers."""

    speed: float | None = 60.0
    hold_timeout_s: float = 10.0
    drop_after_s: float | None = None  # None: the venue's rule
    ping_interval_s: float | None = None  # server-ping venues; None: the venue's
    heartbeat_interval_s: float | None = None  # heartbeat test_request interval; None: what the client asked
    weight_budget: int = 2400
    weight_window_s: float = 60.0
    ban_s: float = 120.0
    max_size: int = 1 << 20
    auto_start: bool = True
    wall_clock: bool = False  # send each frame at the epoch instant its recv_ms names (latency runs)
    limits: VenueLimits | None = None  # None: the venue's documented limits (its spec)
    # Multiplies every limit's interval (tests shrink time; 0 turns limit enforcement off).
    limit_scale: float = 1.0
    close_after_s: float | None = None  # close every connection at this age (a flapping venue)


@dataclass
class SimStats:
    """What happened, for tests and the demo."""

    connections: int = 0
    subscribe_requests: int = 0
    rejected_subscriptions: int = 0
    pings: int = 0
    keepalive_drops: int = 0
    frames_sent: int = 0
    deliveries: int = 0
    frames_skipped: int = 0
    rest_requests: int = 0
    send_lateness_ms: list[float] = field(default_factory=list)  # wall-clock playback only
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    connect_times: list[float] = field(default_factory=list)  # monotonic time of each accepted handshake
    violations: list[str] = field(default_factory=list)  # the venue's limits the clients broke


@dataclass
class _PendingRest:
    fault: RestError
    left: int


@dataclass(eq=False)
class _Conn:
    ws: ServerConnection
    client: Client
    last_ping: float = 0.0
    silent: bool = False
    closing: bool = False
    awaiting_test: bool = False
    deadline: asyncio.Timeout | None = None
    messages: Window | None = None
    subscribes: Window | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class VenueSim:
    """A protocol-faithful stand-in for one venue on 127.0.0.1."""

    def __init__(self, protocol: VenueProtocol, records: Sequence[CaptureRecord], options: SimOptions | None = None):
        self.protocol = protocol
        self.venue = protocol.venue
        self.options = options or SimOptions()
        self.frames = [r for r in records if r.frame is not None and r.rest is None and r.meta is None]
        self._rest: dict[str, list[tuple[int, str]]] = {}
        self._meta: list[str] = []
        for r in records:
            if r.frame is None or (r.rest is None and r.meta is None):
                continue
            # Instrument lists name their request path in `rest` (recorded) or in `meta` itself (scenarios).
            path = r.rest or (r.meta if r.meta and r.meta.startswith("/") else None)
            if path is not None:
                self._rest.setdefault(path, []).append((r.recv_ms, r.frame))
            else:
                self._meta.append(r.frame)
        self._clock_ms = 0  # recv_ms of the last frame played: REST answers follow the playback clock
        self._rest_served: dict[str, int] = {}
        self._snapshots: dict[frozenset[str], str] = {}
        self.stats = SimStats()
        self._conns: set[_Conn] = set()
        self._changed = asyncio.Condition()
        self._scheduled: dict[int, list[Fault]] = {}
        self._accept_close: AcceptThenClose | None = None
        self._accept_left: int | None = None
        self._reject_left = 0
        self._rest_errors: list[_PendingRest] = []
        self._delay = 0.0
        self._window = (0, 0)  # (window index, weight used)
        self._limited_until = 0.0
        self._banned_until = 0.0
        self.served = asyncio.Event()
        self._started = asyncio.Event()
        self._ws_server: Server | None = None
        self._http: asyncio.Server | None = None
        self._playback: asyncio.Task[None] | None = None
        limits = self.options.limits or spec_of(self.venue).limits
        self.limits = limits
        self._connect_window = self._limit_window(limits.connections)
        self._ip_messages = self._limit_window(limits.ip_messages)

    def _limit_window(self, rate: Rate | None) -> Window | None:
        scale = self.options.limit_scale
        if rate is None or scale <= 0:
            return None
        return Window(Rate(rate.count, rate.per_s * scale))

    def _violation(self, rule: str) -> None:
        self.stats.violations.append(rule)
        log.warning("sim_limit_violation", venue=self.venue, rule=rule)

    @staticmethod
    def _over(window: Window | None) -> bool:
        """Count one action in ``window``; True when it did not fit (the action breaks the limit)."""
        if window is None:
            return False
        if window.wait_s() > 0:
            return True
        window.take()
        return False

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """The handshake gate: 429 for a connection over the venue's per-IP connection rate."""
        if self._over(self._connect_window):
            self._violation(f"connections over {self.limits.connections}")
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "Too many connection requests\n")
        return None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1") -> None:
        """Listen on free ports and start the playback task."""
        server_ping = self.protocol.keepalive == "server_ping"
        self._ws_server = await serve(
            self._handler,
            host,
            0,
            ping_interval=(self.options.ping_interval_s or self.protocol.ping_interval_s) if server_ping else None,
            ping_timeout=self._drop_after() if server_ping else None,
            max_size=self.options.max_size,
            close_timeout=1.0,
            process_request=self._admit,
        )
        self._http = await start_http(self._rest_handler, host, 0)
        self._playback = asyncio.create_task(self._play(), name=f"sim-{self.venue}-playback")

    def start_playback(self) -> None:
        """Start the playback now (it also starts at the first subscription when ``auto_start``)."""
        self._started.set()

    async def close(self) -> None:
        """Stop playback, close every client and both listeners."""
        if self._playback is not None:
            self._playback.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._playback
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
        if self._http is not None:
            self._http.close()
            await self._http.wait_closed()

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT`` (any path is accepted; adapters append theirs)."""
        assert self._ws_server is not None, "simulator not started"
        port = self._ws_server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the REST endpoints."""
        assert self._http is not None, "simulator not started"
        port = self._http.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    @property
    def clients(self) -> int:
        """Clients connected right now."""
        return len(self._conns)

    # -- waiting -------------------------------------------------------------------------------
    async def wait_for(self, predicate: Callable[[VenueSim], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate(self)`` holds; TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def wait_served(self, timeout: float = 30.0) -> None:
        """Wait until every capture frame has been sent (or skipped)."""
        async with asyncio.timeout(timeout):
            await self.served.wait()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- faults --------------------------------------------------------------------------------
    def inject(self, fault: Fault, *, at_frame: int | None = None) -> None:
        """Apply ``fault`` now, or just before playback frame number ``at_frame`` (0-based)."""
        if at_frame is not None:
            self._scheduled.setdefault(at_frame, []).append(fault)
            return
        match fault:
            case Close(code=code, reason=reason):
                for conn in list(self._conns):
                    conn.closing = True  # no frame goes to a socket that is being closed
                    asyncio.get_running_loop().create_task(conn.ws.close(code, reason))
            case Silence(seconds=seconds):
                for conn in self._conns:
                    self._silence(conn, seconds)
            case Garbage(text=text):
                self._send_all(text)
            case Oversize(size_bytes=size):
                self._send_all(dumps({"pad": "x" * size}))
            case Delay(seconds=seconds):
                self._delay += seconds
            case AcceptThenClose(count=count):
                self._accept_close, self._accept_left = fault, count
            case RejectSubscriptions(count=count):
                self._reject_left += count
            case RestError(count=count):
                self._rest_errors.append(_PendingRest(fault, count))

    def clear_faults(self) -> None:
        """Forget pending accept-then-close, rejections and REST errors."""
        self._accept_close, self._accept_left, self._reject_left = None, None, 0
        self._rest_errors.clear()

    def _silence(self, conn: _Conn, seconds: float | None) -> None:
        conn.silent = True
        transport = conn.ws.transport
        transport.pause_reading()
        if seconds is not None:

            def resume() -> None:
                conn.silent = False
                with contextlib.suppress(Exception):
                    transport.resume_reading()

            asyncio.get_running_loop().call_later(seconds, resume)

    def _send_all(self, text: str) -> None:
        for conn in list(self._conns):
            asyncio.get_running_loop().create_task(_send(conn, text))

    # -- websocket side ------------------------------------------------------------------------
    def _drop_after(self) -> float:
        return self.options.drop_after_s if self.options.drop_after_s is not None else self.protocol.drop_after_s

    async def _handler(self, ws: ServerConnection) -> None:
        request = ws.request
        path = request.path if request is not None else "/"
        headers = {k.lower(): v for k, v in request.headers.raw_items()} if request is not None else {}
        self.stats.connections += 1
        self.stats.paths.append(path)
        self.stats.headers.append(headers)
        if self._accept_close is not None and (self._accept_left is None or self._accept_left > 0):
            if self._accept_left is not None:
                self._accept_left -= 1
            await ws.close(self._accept_close.code, self._accept_close.reason)
            await self._notify()
            return
        conn = _Conn(ws, Client(path=path, headers=headers), last_ping=time.monotonic())
        conn.messages = self._limit_window(self.limits.messages)
        conn.subscribes = self._limit_window(self.limits.subscribes)
        self.stats.connect_times.append(conn.last_ping)
        self._conns.add(conn)
        if self.options.close_after_s is not None:
            asyncio.get_running_loop().call_later(
                self.options.close_after_s, lambda: asyncio.ensure_future(ws.close(1000, "connection lifetime reached"))
            )
        try:
            for frame in self.protocol.on_connect(conn.client):
                await ws.send(frame)
            if conn.client.topics and self.options.auto_start:
                self._started.set()
            await self._notify()
            if self.protocol.keepalive == "client_ping":
                conn.tasks.append(asyncio.create_task(self._watch_pings(conn)))
            async for message in ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                await self._on_message(conn, text)
        except ConnectionClosed:
            pass
        finally:
            self._conns.discard(conn)
            for task in conn.tasks:
                task.cancel()
            sent = ws.protocol.close_sent
            if sent is not None and sent.code == 1011 and "keepalive" in sent.reason:
                self.stats.keepalive_drops += 1
                log.info("sim_keepalive_drop", venue=self.venue, rule="no pong")
            await self._notify()

    async def _on_message(self, conn: _Conn, text: str) -> None:
        if self._over(conn.messages) or self._over(self._ip_messages):
            self._violation(f"client messages over {self.limits.messages or self.limits.ip_messages}")
            await conn.ws.close(1008, "too many messages")
            return
        outcome = self.protocol.on_message(conn.client, text)
        if outcome.violation is not None:
            self._violation(outcome.violation)
        if outcome.is_subscribe:
            self.stats.subscribe_requests += 1
            if self._over(conn.subscribes):
                self._violation(f"subscribe requests over {self.limits.subscribes} on one connection")
                outcome.replies = self.protocol.reject(conn.client, text)
                outcome.subscribe, outcome.rejected = set(), True
            topics = len(conn.client.topics | outcome.subscribe)
            ip_topics = sum(len(c.client.topics) for c in self._conns if c is not conn) + topics
            limits = self.limits
            over = (limits.topics_per_connection is not None and topics > limits.topics_per_connection) or (
                limits.ip_topics is not None and ip_topics > limits.ip_topics
            )
            if self.options.limit_scale > 0 and over:
                self._violation(f"{topics} topics on one connection ({ip_topics} in all), over the venue's limit")
                outcome.replies = self.protocol.reject(conn.client, text)
                outcome.subscribe, outcome.rejected = set(), True
            if self._reject_left > 0:
                self._reject_left -= 1
                outcome.replies = self.protocol.reject(conn.client, text)
                outcome.subscribe, outcome.rejected = set(), True
        if outcome.rejected:
            self.stats.rejected_subscriptions += 1
        for reply in outcome.replies:
            await conn.ws.send(reply)
        if outcome.ping:
            self.stats.pings += 1
            conn.last_ping = time.monotonic()
            if conn.deadline is not None:
                conn.deadline.reschedule(asyncio.get_running_loop().time() + self._drop_after())
        if outcome.test_answer:
            conn.awaiting_test = False
        if outcome.heartbeat_s is not None and not any(t.get_name() == "heartbeat" for t in conn.tasks):
            interval = self.options.heartbeat_interval_s or outcome.heartbeat_s
            conn.tasks.append(asyncio.create_task(self._heartbeat(conn, interval), name="heartbeat"))
        for keys, snapshot in list(self._snapshots.items()):  # the venue's state for a new subscriber
            matched = sorted(keys & outcome.subscribe)
            if matched and not keys & conn.client.topics:
                await _send(conn, self.protocol.render(snapshot, conn.client, matched[0]))
        if outcome.subscribe or outcome.unsubscribe:
            conn.client.topics |= outcome.subscribe
            conn.client.topics -= outcome.unsubscribe
            if self.options.auto_start:
                self._started.set()
        await self._notify()

    async def _watch_pings(self, conn: _Conn) -> None:
        try:
            async with asyncio.timeout(self._drop_after()) as deadline:
                conn.deadline = deadline
                await conn.ws.wait_closed()
        except TimeoutError:
            self.stats.keepalive_drops += 1
            log.info("sim_keepalive_drop", venue=self.venue, rule="no ping", after_s=self._drop_after())
            await conn.ws.close(4000, "ping timeout")

    async def _heartbeat(self, conn: _Conn, interval: float) -> None:
        while True:
            conn.awaiting_test = True
            await _send(conn, self.protocol.test_request())
            await asyncio.sleep(interval)
            if conn.awaiting_test:
                self.stats.keepalive_drops += 1
                log.info("sim_keepalive_drop", venue=self.venue, rule="test_request unanswered")
                await conn.ws.close(1000, "heartbeat test_request not answered")
                return

    # -- playback ------------------------------------------------------------------------------
    def _targets(self, keys: frozenset[str] | None) -> list[tuple[_Conn, str]]:
        targets = []
        for conn in self._conns:
            if conn.silent or conn.closing:
                continue
            if keys is None:
                targets.append((conn, ""))
                continue
            matched = sorted(keys & conn.client.topics)
            if matched:
                targets.append((conn, matched[0]))
        return targets

    async def _play(self) -> None:
        await self._started.wait()
        loop = asyncio.get_running_loop()
        speed = self.options.speed
        first = self.frames[0].recv_ms if self.frames else 0
        t0 = loop.time()
        for index, record in enumerate(self.frames):
            for fault in self._scheduled.pop(index, []):
                self.inject(fault)
            if self._delay:
                await asyncio.sleep(self._delay)
                t0 += self._delay
                self._delay = 0.0
            if self.options.wall_clock:
                wait = record.recv_ms / 1000 - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            elif speed:
                wait = t0 + (record.recv_ms - first) / 1000 / speed - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            assert record.frame is not None
            self._clock_ms = record.recv_ms
            await self._deliver(record.frame)
            if self.options.wall_clock:
                self.stats.send_lateness_ms.append(time.time() * 1000 - record.recv_ms)
            await self._notify()
        for fault in self._scheduled.pop(len(self.frames), []):
            self.inject(fault)
        self.served.set()
        await self._notify()

    async def _deliver(self, frame: str) -> None:
        """Send one frame to its subscribers; wait for one (a reconnecting client) when there is none."""
        keys = self.protocol.frame_keys(frame)
        if keys is not None and self.protocol.is_snapshot(frame):
            self._snapshots[keys] = frame
        while True:
            targets = self._targets(keys)
            if not targets:
                await self._hold(keys)
                targets = self._targets(keys)
            if not targets:
                self.stats.frames_skipped += 1
                return
            delivered = 0
            for conn, key in targets:
                text = frame if keys is None else self.protocol.render(frame, conn.client, key)
                if await _send(conn, text):
                    delivered += 1
                else:
                    conn.closing = True
            if delivered:
                self.stats.deliveries += delivered
                self.stats.frames_sent += 1
                return

    async def _hold(self, keys: frozenset[str] | None) -> None:
        def subscribed(sim: VenueSim) -> bool:
            return bool(sim._targets(keys))

        with contextlib.suppress(TimeoutError):
            await self.wait_for(subscribed, self.options.hold_timeout_s)

    # -- REST side -----------------------------------------------------------------------------
    async def _rest_handler(self, request: HttpRequest) -> HttpResponse:
        self.stats.rest_requests += 1
        await self._notify()
        target = request.target
        if request.method == "POST":
            body = loads(request.body)
            if isinstance(body, dict) and isinstance(body.get("type"), str):
                target = f"{urlsplit(target).path}#{body['type']}"
        headers: dict[str, str] = {}
        for pending in self._rest_errors:
            fault = pending.fault
            if pending.left > 0 and fault.path_contains in target:
                pending.left -= 1
                if fault.retry_after_s is not None:
                    headers["Retry-After"] = f"{fault.retry_after_s:g}"
                return HttpResponse(fault.status, dumps({"code": fault.status, "msg": "simulated"}).encode(), headers)
        weight = self.protocol.rest_weight(target)
        if weight:
            limited = self._charge(weight)
            headers["X-MBX-USED-WEIGHT-1M"] = str(self._window[1])
            if limited is not None:
                headers["Retry-After"] = str(limited[1])
                msg = "Way too many requests; IP banned" if limited[0] == 418 else "Too many requests"
                return HttpResponse(limited[0], dumps({"code": -1003, "msg": msg}).encode(), headers)
        body_text = self._rest_body(target)
        if body_text is None:
            return HttpResponse(404, dumps({"code": -1, "msg": f"no simulated response for {target}"}).encode())
        return HttpResponse(200, body_text.encode(), headers)

    def _charge(self, weight: int) -> tuple[int, int] | None:
        now = time.time()
        if now < self._banned_until:
            return 418, int(self._banned_until - now) + 1
        if now < self._limited_until:  # ignored a 429: ban
            self._banned_until = now + self.options.ban_s
            return 418, int(self.options.ban_s)
        window = int(now // self.options.weight_window_s)
        used = self._window[1] if self._window[0] == window else 0
        used += weight
        self._window = (window, used)
        if used > self.options.weight_budget:
            self._violation(f"REST weight over {self.options.weight_budget} per {self.options.weight_window_s:g} s")
            self._limited_until = (window + 1) * self.options.weight_window_s
            return 429, max(1, int(self._limited_until - now) + 1)
        return None

    def _rest_body(self, target: str) -> str | None:
        bodies = self._rest.get(target)
        if bodies is None:
            path = urlsplit(target).path
            bodies = next((b for k, b in self._rest.items() if urlsplit(k).path == path and "?" not in k), None)
        if bodies is not None:
            if self._clock_ms and bodies[0][0] <= self._clock_ms:
                # The latest body recorded at or before the playback position, as the venue would answer then.
                return next(body for recv_ms, body in reversed(bodies) if recv_ms <= self._clock_ms)
            index = self._rest_served.get(target, 0)
            self._rest_served[target] = index + 1
            return bodies[min(index, len(bodies) - 1)][1]
        if self._meta and any(target.startswith(p) for p in self.protocol.instrument_paths):
            return self._meta[0]
        return None


async def _send(conn: _Conn, text: str) -> bool:
    try:
        await conn.ws.send(text)
    except ConnectionClosed:
        return False
    return True
