"""Pure delivery policy: backoff delays, the token bucket, the breaker, ``Retry-After``.

Nothing here awaits or reads a clock: callers pass ``now`` (monotonic
seconds) and a random source, so every rule is unit-testable.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from monitor.alerts.config import RetrySettings
from monitor.backoff import backoff as retry_delays


def backoff(policy: RetrySettings, rand: Callable[[], float] = random.random) -> Iterator[float]:
    """Delays before each retry: exponential from ``initial_s`` to ``max_s``, each jittered to 50-100 %."""
    return retry_delays(policy.initial_s, policy.max_s, policy.factor, low=0.5, high=1.0, rand=rand)


def retry_after_seconds(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent/bad."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - now_epoch
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def next_delay(backoff_delay: float, retry_after: float | None, cap: float) -> float:
    """The wait before the next attempt: the backoff, or the server's ``Retry-After`` when longer; at most ``cap``."""
    if retry_after is None:
        return min(backoff_delay, cap)
    return min(max(retry_after, backoff_delay), cap)


class TokenBucket:
    """``rate`` tokens per second, up to ``burst`` saved; starts full."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when it was there, else the seconds to wait (the token is then reserved)."""
        self._refill(now)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate

    @property
    def tokens(self) -> float:
        """Tokens available at the last refill (negative while reserved ahead)."""
        return self._tokens


BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class Breaker:
    """Opens on a permanent error; while open, one probe attempt is allowed every ``probe_interval`` s."""

    probe_interval: float
    state: BreakerState = "closed"
    reason: str = ""
    opened_at: float = 0.0
    _next_probe: float = 0.0

    def trip(self, reason: str, now: float) -> bool:
        """Record a permanent error; True when this newly broke the sink (log it once)."""
        newly = self.state == "closed"
        self.state = "open"
        self.reason = reason
        if newly:
            self.opened_at = now
        self._next_probe = now + self.probe_interval
        return newly

    def allow(self, now: float) -> bool:
        """True when an attempt may go out: closed, or open and a probe is due (moves to half-open)."""
        if self.state == "closed":
            return True
        if self.state == "open" and now >= self._next_probe:
            self.state = "half_open"
            return True
        return self.state == "half_open"

    def success(self) -> bool:
        """Record a delivery; True when it healed a broken sink."""
        healed = self.state != "closed"
        self.state = "closed"
        self.reason = ""
        return healed

    def probe_failed(self, now: float) -> None:
        """A half-open probe failed with a retryable error: stay broken, wait for the next probe."""
        if self.state != "closed":
            self.state = "open"
            self._next_probe = now + self.probe_interval

    @property
    def healthy(self) -> bool:
        """False while the breaker is open or probing."""
        return self.state == "closed"


Admission = Literal["go", "probe", "wait", "give_up"]


@dataclass
class Outage:
    """Whether a sink may be tried now: one clock per sink outage, not one per alert.

    While the sink works every job may send (``go``). The first retryable
    failure (or a ``Retry-After``) starts an outage: from then on the jobs wait
    until the next try is due, and then exactly one of them sends (``probe``)
    while the others keep waiting. A successful send ends the outage and lets
    every waiting job go at once. Once the outage is older than
    ``give_up_after``, every job is given up (``give_up``) at the first failed
    probe after it started waiting, so a whole backlog is dropped at once and
    an alert arriving later still gets the next probe's chance.

    Jobs pass ``seen``: the value of :attr:`failures` when they started.
    """

    give_up_after: float
    since: float | None = None
    next_try: float = 0.0
    probing: bool = False
    failures: int = 0  # retryable failures ever seen (never reset)
    last_error: str = ""

    def admit(self, now: float, seen: int) -> Admission:
        """What a job that started when :attr:`failures` was ``seen`` may do at ``now``."""
        if self.since is None:
            return "go"
        if now - self.since >= self.give_up_after and self.failures > seen:
            return "give_up"
        if not self.probing and now >= self.next_try:
            self.probing = True
            return "probe"
        return "wait"

    def wake_at(self) -> float | None:
        """When a job told to ``wait`` should ask again; None: when a probe ends (it is notified)."""
        if self.since is None or self.probing:
            return None
        return self.next_try

    def failed(self, now: float, delay: float, error: str, *, probe: bool) -> bool:
        """A retryable failure; the next try is ``delay`` s away. True when this started the outage."""
        started = self.since is None
        if started:
            self.since = now
        if probe:
            self.probing = False
            self.next_try = now + delay
        else:
            self.next_try = max(self.next_try, now + delay)
        self.failures += 1
        self.last_error = error
        return started

    def succeeded(self, now: float) -> float | None:
        """A delivery went through; the outage's length when this ended one, else None."""
        if self.since is None:
            return None
        lasted = max(0.0, now - self.since)
        self.since = None
        self.next_try = 0.0
        self.probing = False
        self.last_error = ""
        return lasted

    def abandon_probe(self) -> None:
        """The probe ended without an answer either way (cancelled, rejected alert): let another job probe."""
        self.probing = False

    @property
    def down(self) -> bool:
        """True during an outage."""
        return self.since is not None
