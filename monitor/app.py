"""The composition root: settings → bus → roles → one TaskGroup → ordered shutdown.

Roles: ``collect`` (venue adapters, or a capture source for replay),
``detect`` (detector runner) and ``alert`` (dispatcher). ``liqmon run`` runs
all three in one process; the scaled-out commands run one each over Redis.

Shutdown is ordered and bounded by ``app.shutdown_timeout_s``: on SIGTERM or
SIGINT (or when a replay source is exhausted) intake stops first, the bus
publish buffer is flushed, then the detectors finish the batch in hand and stop
(at the end of a replay they first handle everything readable; on a signal the
rest stays on the bus for the next run), then the dispatcher finishes its
in-flight deliveries, then the metrics server and the bus close, and the
process exits 0. Whatever is still running at the deadline is cancelled (and
logged) and given a moment to unwind before ``shutdown_complete``. An
unexpected exception in any task cancels the others and the process exits 1
with the error logged.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from monitor.aio import sleep_or_stop
from monitor.alert import Alert
from monitor.bus.base import Bus
from monitor.capture.format import CaptureRecord, CaptureWriter
from monitor.capture.replay import CaptureDecoder
from monitor.errors import BusAuthError, BusError, CaptureError, ConfigError
from monitor.events import Event
from monitor.logs import get_logger
from monitor.metrics import Metrics, default_metrics
from monitor.settings import Settings
from monitor.top.live import LiveState

log = get_logger(__name__)

ROLES: Final = frozenset({"collect", "detect", "alert"})
# Feed watch: how often the collector's venues are checked.
FEED_CHECK_S: Final = 1.0
# How long stages cancelled at the shutdown deadline get to unwind.
_CANCEL_GRACE_S: Final = 2.0

EventTap = Callable[[Sequence[Event]], None]
AlertTap = Callable[[Alert], None]


class Stage(Protocol):
    """Anything the application runs until a stop event is set."""

    async def run(self, stop: asyncio.Event) -> None: ...


def consumer_name(settings: Settings) -> str:
    """The consumer name of this process in the Redis consumer groups."""
    return settings.bus.consumer_name or f"{socket.gethostname()}-{os.getpid()}"


class TappedBus:
    """A bus wrapper that shows every published event and alert to observers (replay output, the demo view).

    ``forward_events`` False keeps events off the inner bus (the taps still see them): an in-process
    bus that no detector in this process reads would only fill up and make a replay wait for it.
    """

    def __init__(
        self,
        inner: Bus,
        event_taps: Iterable[EventTap],
        alert_taps: Iterable[AlertTap],
        *,
        forward_events: bool = True,
    ) -> None:
        self._inner = inner
        self._event_taps = tuple(event_taps)
        self._alert_taps = tuple(alert_taps)
        self.shard_count = inner.shard_count
        # Without event taps (only alerts observed), events go to the inner bus without a call through here.
        self.publish: Callable[[Sequence[Event]], None] = (
            (self._publish_tapped if self._event_taps else inner.publish) if forward_events else self._tap_only
        )

    def _publish_tapped(self, events: Sequence[Event]) -> None:
        """Publish, then show the events to the taps."""
        self._inner.publish(events)
        for tap in self._event_taps:
            tap(events)

    def _tap_only(self, events: Sequence[Event]) -> None:
        """Show the events to the taps without publishing them."""
        for tap in self._event_taps:
            tap(events)

    async def publish_alert(self, alert: Alert) -> None:
        """Publish, then show the alert to the taps."""
        await self._inner.publish_alert(alert)
        for tap in self._alert_taps:
            tap(alert)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CaptureSource:
    """Replays a capture through the real parsers into the bus (the ``collect`` role of ``liqmon replay``).

    ``speed`` None replays as fast as the pipeline takes it (back-pressured by
    the bus backlog); a number paces records by their ``recv_ms`` at that
    multiple of real time.
    """

    BACKLOG_LIMIT: Final = 20_000

    def __init__(
        self,
        records: Iterable[CaptureRecord],
        bus: Bus,
        metrics: Metrics,
        *,
        speed: float | None = None,
        decoder: CaptureDecoder | None = None,
        hold: bool = False,
    ) -> None:
        self.records = records
        self.hold = hold
        self.bus = bus
        self.metrics = metrics
        self.speed = speed
        self.decoder = decoder or CaptureDecoder(metrics=metrics)
        self.published = 0
        # Why the capture could not be read to its end (a truncated gzip, a read error), if it could not.
        self.failure: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Publish the capture's events until it ends or ``stop`` is set."""
        try:
            if not await self._replay(stop):
                return
        except CaptureError as exc:
            self.failure = str(exc)
            log.error("replay_capture_unreadable", error=self.failure, frames=self.decoder.frames)
            return
        log.info("replay_finished", frames=self.decoder.frames, events=self.published)
        if self.hold:
            await stop.wait()

    async def _replay(self, stop: asyncio.Event) -> bool:
        """Publish every record; False when ``stop`` interrupted it.

        Records are decoded a chunk at a time (up to the next await: pacing or back-pressure), and
        each chunk's events are counted, observed and published in one call each. Nothing else runs
        between two awaits, so the bus, the taps and the metrics see the same as record by record.
        """
        loop = asyncio.get_running_loop()
        first_ms: int | None = None
        started = loop.time()
        speed = self.speed
        decode = self.decoder.decode
        pending: list[Event] = []
        frames: dict[tuple[str, str], int] = {}
        if stop.is_set():
            log.info("replay_interrupted", records=0)
            return False
        try:
            for count, record in enumerate(self.records):
                if speed is not None:
                    first_ms = record.recv_ms if first_ms is None else first_ms
                    due = started + (record.recv_ms - first_ms) / 1000 / speed
                    if due > loop.time():
                        self._deliver(pending, frames)
                        await sleep_or_stop(stop, due - loop.time())
                        if stop.is_set():
                            log.info("replay_interrupted", records=count)
                            return False
                events = decode(record)
                if record.frame is not None and record.meta is None:
                    key = (record.venue, events[0].kind if events else "control")
                    frames[key] = frames.get(key, 0) + 1
                if events:
                    pending += events
                if not count & 255:
                    self._deliver(pending, frames)
                    await self._backpressure(stop)
                    if stop.is_set():
                        log.info("replay_interrupted", records=count + 1)
                        return False
        finally:
            self._deliver(pending, frames)
        return True

    def _deliver(self, events: list[Event], frames: dict[tuple[str, str], int]) -> None:
        """Count the frames, observe and publish the events of a chunk; empties both."""
        if frames:
            self.metrics.messages_received(frames)
            frames.clear()
        if events:
            batch = events.copy()
            events.clear()
            self.metrics.observe_events(batch)
            self.bus.publish(batch)
            self.published += len(batch)

    async def _backpressure(self, stop: asyncio.Event) -> None:
        await asyncio.sleep(0)
        # Let the consumers catch up: a replay must not overflow the bounded bus. Polling the
        # backlog is deliberate; the bus interface has no "drained below N" notification.
        while self.bus.backlog() > self.BACKLOG_LIMIT and not stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.002)


class Application:
    """Runs the configured roles of liqmon in one asyncio TaskGroup."""

    def __init__(
        self,
        settings: Settings,
        *,
        roles: Iterable[str] = ROLES,
        metrics: Metrics | None = None,
        bus: Bus | None = None,
        source: Iterable[CaptureRecord] | None = None,
        speed: float | None = None,
        capture_out: Path | None = None,
        event_taps: Iterable[EventTap] = (),
        alert_taps: Iterable[AlertTap] = (),
        serve_metrics: bool | None = None,
        hold: bool = False,
        clock: Callable[[], int] | None = None,
        label: str | None = None,
    ) -> None:
        unknown = set(roles) - ROLES
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; known: {sorted(ROLES)}")
        self.settings = settings
        self.roles = frozenset(roles)
        self.metrics = metrics or default_metrics()
        self._bus = bus
        self._source = source
        self._speed = speed
        self._hold = hold
        self._capture_out = capture_out
        self._clock = clock
        # What /state and /alerts serve (``liqmon top``, ``liqmon alerts``); fed by an alert tap.
        self.state = LiveState(
            settings, self.metrics, collects="collect" in self.roles and source is None, label=label, market_clock=clock
        )
        self._event_taps = tuple(event_taps)
        self._alert_taps = (*alert_taps, self.state.on_alert)
        self._serve_metrics = settings.metrics.enabled if serve_metrics is None else serve_metrics
        self._stop = asyncio.Event()
        self.metrics_port: int | None = None
        self.metrics_started = asyncio.Event()
        self.collector: Any = None
        self.replay: CaptureSource | None = None
        self.detector: Any = None

    def request_stop(self, *, input_ended: bool = False) -> None:
        """Begin the ordered shutdown (what SIGTERM/SIGINT do).

        ``input_ended`` says the venues have nothing more to send (a demo whose simulators finished
        playing): the detectors then handle what is left on the bus before stopping, as at the end
        of a replay, instead of leaving it there.
        """
        if input_ended and self.detector is not None:
            self.detector.drain_after_stop = True
        if not self._stop.is_set():
            log.info("shutdown_requested")
        self._stop.set()

    async def run(self, *, install_signals: bool = True) -> int:
        """Run until stopped; 0 after a clean (possibly deadline-cut) shutdown, 1 after a crash.

        Raises ConfigError (exit 2) when Redis refuses the credentials at start-up.
        """
        from monitor.bus.factory import create_bus

        inner = self._bus or create_bus(self.settings.bus, self.metrics)
        await _check_bus(inner)
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        crashed = False
        try:
            await self._run(inner)
        except* Exception as group:
            crashed = True
            for exc in group.exceptions:
                log.error("task_crashed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        finally:
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
        return 1 if crashed else 0

    async def _run(self, inner: Bus) -> None:
        # Events published where nobody can read them (no detector here, a bus no other process shares)
        # would fill the bus until the replay waits forever for it to drain.
        forward = "detect" in self.roles or inner.shared
        bus: Bus = (
            TappedBus(inner, self._event_taps, self._alert_taps, forward_events=forward)
            if (self._event_taps or self._alert_taps or not forward)
            else inner
        )
        capture = CaptureWriter(self._capture_out, metrics=self.metrics) if self._capture_out else None
        stops = {name: asyncio.Event() for name in ("intake", "detect", "alert", "metrics", "bus")}
        try:
            async with asyncio.TaskGroup() as group:
                bus_task = group.create_task(inner.run(stops["bus"]), name="bus")
                tasks: dict[str, asyncio.Task[None]] = {"bus": bus_task}
                intake = self._intake(bus, capture)
                if intake is not None:
                    tasks["intake"] = group.create_task(intake.run(stops["intake"]), name="intake")
                if self.collector is not None:
                    group.create_task(self._watch_feeds(bus, stops["intake"]), name="feed-watch")
                if "detect" in self.roles:
                    tasks["detect"] = group.create_task(self._detector(bus).run(stops["detect"]), name="detect")
                if "alert" in self.roles:
                    tasks["alert"] = group.create_task(self._dispatcher(bus).run(stops["alert"]), name="alert")
                if self._serve_metrics:
                    tasks["metrics"] = group.create_task(self._serve(bus, stops["metrics"]), name="metrics")
                group.create_task(self._supervise(inner, tasks, stops), name="supervisor")
        finally:
            if capture is not None:
                capture.close()
            await inner.close()

    def _intake(self, bus: Bus, capture: CaptureWriter | None) -> Stage | None:
        if "collect" not in self.roles:
            return None
        if self._source is not None:
            self.replay = CaptureSource(self._source, bus, self.metrics, speed=self._speed, hold=self._hold)
            return self.replay
        from monitor.venues.collector import Collector, CollectorOptions

        options = CollectorOptions(clock=self._clock) if self._clock is not None else None
        collector: Stage = Collector(self.settings, bus, self.metrics, capture=capture, options=options)
        self.collector = collector
        return collector

    async def _watch_feeds(self, bus: Bus, stop: asyncio.Event) -> None:
        """Raise and resolve ``feed_down`` alerts for the collector's venues (see :mod:`monitor.feedwatch`)."""
        from monitor.errors import BusError
        from monitor.feedwatch import FeedWatch

        watch = FeedWatch(int(time.time() * 1000), min_silence_s=self.settings.app.feed_down_after_s)
        pending: list[Alert] = []
        while not stop.is_set():
            pending += watch.check(int(time.time() * 1000), self.collector.feed_status())
            while pending:
                try:
                    await bus.publish_alert(pending[0])
                except BusError as exc:
                    log.warning("feed_alert_publish_failed", alert_id=pending[0].id, error=str(exc), retry_in_s=5)
                    break
                log.info("feed_alert", status=pending[0].status, venue=pending[0].venue, summary=pending[0].summary)
                pending.pop(0)
            await sleep_or_stop(stop, FEED_CHECK_S)

    def _detector(self, bus: Bus) -> Stage:
        from monitor.detectors.runner import DetectorRunner

        runner = DetectorRunner(self.settings.detectors, bus, self.metrics, consumer=consumer_name(self.settings))
        self.detector = runner
        return runner

    def _dispatcher(self, bus: Bus) -> Stage:
        from monitor.alerts.dispatcher import Dispatcher

        return Dispatcher(self.settings.alerts, bus, self.metrics, consumer=consumer_name(self.settings))

    async def _serve(self, bus: Bus, stop: asyncio.Event) -> None:
        from monitor.metrics_server import MetricsServer

        async def readiness() -> dict[str, bool]:
            checks = {"bus": await bus.ping()}
            if self.collector is not None:
                checks["feeds"] = bool(self.collector.ready())
            return checks

        server = MetricsServer(self.settings.metrics, self.metrics, readiness, state=self.state)
        await server.start()
        self.metrics_port = server.port
        self.metrics_started.set()
        log.info("metrics_serving", host=self.settings.metrics.host, port=server.port)
        await server.run(stop)

    async def _supervise(self, bus: Bus, tasks: dict[str, asyncio.Task[None]], stops: dict[str, asyncio.Event]) -> None:
        """Wait for a stop request (or the end of a replay), then shut down stage by stage."""
        intake = tasks.get("intake")
        stop_wait: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
        waiters: list[asyncio.Future[Any]] = [stop_wait] if intake is None else [stop_wait, intake]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if self.detector is not None and not self._stop.is_set():
            # The input has ended (a replay): the detectors handle what is left before stopping.
            # On SIGTERM/SIGINT they finish the batch in hand only; the rest stays on the bus.
            self.detector.drain_after_stop = True
        stop_wait.cancel()
        self._stop.set()
        timeout = self.settings.app.shutdown_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                await self._stop_stage("intake", tasks, stops)
                if not await bus.flush(max(0.0, deadline - loop.time())):
                    log.warning("shutdown_flush_incomplete", hint="events still buffered for Redis were not written")
                await self._stop_stage("detect", tasks, stops)
                await self._stop_stage("alert", tasks, stops)
        except TimeoutError:
            unfinished = [name for name, task in tasks.items() if not task.done() and name not in ("bus", "metrics")]
            log.warning("shutdown_deadline", seconds=timeout, cancelled=unfinished)
        finally:
            cancelled = [tasks[n] for n in ("intake", "detect", "alert") if n in tasks and not tasks[n].done()]
            for task in cancelled:
                task.cancel()
            if cancelled:  # "shutdown_complete" means no stage is still at work
                await asyncio.wait(cancelled, timeout=_CANCEL_GRACE_S)
            stops["metrics"].set()
            stops["bus"].set()
        log.info("shutdown_complete")

    @staticmethod
    async def _stop_stage(name: str, tasks: dict[str, asyncio.Task[None]], stops: dict[str, asyncio.Event]) -> None:
        stops[name].set()
        task = tasks.get(name)
        if task is not None:
            await asyncio.wait([task])


async def _check_bus(bus: Bus) -> None:
    """Refuse to start when the bus refuses the credentials; an unreachable bus is retried by ``run``."""
    try:
        await bus.connect()
    except BusAuthError as exc:
        await bus.close()
        raise ConfigError(str(exc)) from None
    except BusError as exc:
        log.warning("bus_unreachable_at_start_up", error=str(exc), hint="retrying; events are buffered meanwhile")


def run_roles(settings: Settings, roles: Iterable[str], **kwargs: Any) -> int:
    """Run the given roles until SIGTERM/SIGINT; the process exit code."""
    return run_async(Application(settings, roles=roles, **kwargs).run())


def run_async(main: Coroutine[Any, Any, int]) -> int:
    """Run a coroutine on uvloop when available (measurably faster for websocket/Redis I/O).

    Everything allocated during start-up (modules, settings, the application) lives as long as
    the process: ``gc.freeze`` moves it out of the collector's view, so full collections scan
    only the state built while running.
    """
    gc.freeze()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)
    return int(uvloop.run(main))


__all__ = ["ROLES", "Application", "CaptureSource", "TappedBus", "consumer_name", "run_roles"]
