"""One connection governor per venue: connects, subscribes and client messages within the venue's limits.

The limits come from the venue's spec (:class:`~monitor.venues.spec.VenueLimits`).
Each is enforced as a sliding window: at most ``count`` actions in any
``per_s`` seconds (stretched by ``margin`` and ``slack_s`` so that latency
cannot push two of our windows into one of the venue's). An action waits until its
window has room, plus a little random jitter, so connections of one venue
never start in the same millisecond and many clients cut at once do not come
back in lockstep. Where a venue documents no limit, a small default spacing
still keeps connects and messages from going out back to back.

:class:`Governor` is shared by every connection of a venue (the per-IP
limits); :meth:`Governor.socket` gives the per-connection pacer that sends a
socket's subscribe frames and pings.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from monitor.aio import sleep_or_stop
from monitor.venues.spec import Rate, VenueLimits


class _Sender(Protocol):
    async def send(self, message: str) -> None: ...


@dataclass(frozen=True, slots=True)
class GovernorOptions:
    """Pacing where the venue documents no limit, safety margin and jitter; tests shrink them."""

    connect_spacing_s: float = 0.25
    message_spacing_s: float = 0.02
    margin: float = 1.1
    # Added to every documented window: a late first handshake must not share the venue's window with ours.
    slack_s: float = 0.3
    jitter_s: float = 0.05
    # Multiplies the interval of every documented limit (tests shrink time with the simulators' limit_scale).
    scale: float = 1.0


class Window:
    """At most ``rate.count`` actions in any ``rate.per_s`` seconds (times from ``clock``)."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        if rate.count < 1 or rate.per_s <= 0:
            raise ValueError(f"a rate needs a positive count and interval, got {rate}")
        self.rate = rate
        self._clock = clock
        self._times: deque[list[float]] = deque()

    def wait_s(self) -> float:
        """Seconds until one more action fits (0: now)."""
        now = self._clock()
        per_s = self.rate.per_s
        times = self._times
        if times and times[0][0] <= now - per_s:  # slots move forward when finished: drop every old one
            times = self._times = deque(t for t in times if t[0] > now - per_s)
        if len(times) < self.rate.count:
            return 0.0
        return min(t[0] for t in times) + per_s - now

    def take(self) -> list[float]:
        """Record one action now; the returned slot can be moved to when the action really ended."""
        slot = [self._clock()]
        self._times.append(slot)
        return slot

    def finish(self, slot: list[float]) -> None:
        """The action of ``slot`` ended now (a handshake the venue may have counted any time until then)."""
        slot[0] = self._clock()


async def acquire(windows: Iterable[Window], stop: asyncio.Event, jitter_s: float = 0.0) -> list[list[float]] | None:
    """Wait until every window has room, then take one action in each (its slots); None when ``stop`` came first."""
    chosen = tuple(windows)
    while not stop.is_set():
        wait = max((w.wait_s() for w in chosen), default=0.0)
        if wait <= 0:
            return [window.take() for window in chosen]
        await sleep_or_stop(stop, wait + random.random() * jitter_s)
    return None


def _window(rate: Rate | None, options: GovernorOptions, fallback_s: float) -> tuple[Window, ...]:
    """The venue's rate made a little stricter, or one action per ``fallback_s`` when it documents none."""
    if rate is None:
        return (Window(Rate(1, fallback_s)),) if fallback_s > 0 else ()
    return (Window(Rate(rate.count, (rate.per_s * options.margin + options.slack_s) * options.scale)),)


class Governor:
    """The per-IP limits of one venue, shared by all its connections."""

    def __init__(self, limits: VenueLimits, options: GovernorOptions | None = None) -> None:
        self.limits = limits
        self.options = opts = options or GovernorOptions()
        self._connects = _window(limits.connections, opts, opts.connect_spacing_s)
        self._ip_messages = _window(limits.ip_messages, opts, 0.0)
        self.connects = 0

    async def connect(self, stop: asyncio.Event) -> Callable[[], None] | None:
        """Wait for the venue's connection window (with jitter); None when ``stop`` came first.

        Call the returned function once the handshake has ended (opened or failed): the connection
        counts in the window from then on, the latest moment the venue can have counted it.
        """
        slots = await acquire(self._connects, stop, self.options.jitter_s)
        if slots is None:
            return None
        await sleep_or_stop(stop, random.random() * self.options.jitter_s)
        self.connects += 1
        if stop.is_set():
            return None
        windows = self._connects

        def finished() -> None:
            for window, slot in zip(windows, slots, strict=True):
                window.finish(slot)

        return finished

    def socket(self) -> SocketPacer:
        """The pacer of one new connection."""
        return SocketPacer(self)


class SocketPacer:
    """Sends one connection's frames within its message and subscribe limits (and the venue's per-IP ones)."""

    def __init__(self, governor: Governor) -> None:
        limits, opts = governor.limits, governor.options
        self._messages = (*_window(limits.messages, opts, opts.message_spacing_s), *governor._ip_messages)
        self._subscribes = _window(limits.subscribes, opts, opts.message_spacing_s)

    async def send(self, ws: _Sender, message: str, stop: asyncio.Event, *, subscribe: bool = False) -> bool:
        """Send ``message`` once the limits allow; False (nothing sent) when ``stop`` came first."""
        windows = (*self._messages, *self._subscribes) if subscribe else self._messages
        if await acquire(windows, stop) is None:
            return False
        await ws.send(message)
        return True
